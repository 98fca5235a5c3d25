package bench

import (
	"sync"
	"time"
)

// The run's clock. Every timestamp the bench takes (send stamps, receipts,
// phase boundaries, dial schedules) is nowNanos(): nanoseconds on the Unix
// time scale, but advanced by the monotonic clock from the moment the
// process started, so that a step of the wall clock (NTP, an operator's
// date) during a run moves no measurement in any one process. A single
// process's round trips (echo always; broadcast and chat with Procs 1) are
// therefore purely monotonic.
//
// Across worker processes the stamps agree as far as the processes read the
// same wall clock when each started: a step between two starts shifts one
// process's times against the other's. Each process watches for steps
// (wallStep: the wall clock minus this clock, zero at the start and after
// any step its own size) and the report warns about one in a multi-process
// run (clockStepWarnAt).

// clockBase is when this process's clock began; baseUnix its wall time.
var (
	clockBase = time.Now()
	baseUnix  = clockBase.UnixNano()
)

// nowNanos is the run's clock (see above). time.Now reads the vDSO clocks
// without a system call.
func nowNanos() int64 { return baseUnix + int64(time.Since(clockBase)) }

// wallStep is how far the wall clock has stepped since this process began:
// the wall clock minus nowNanos. Zero unless the wall clock was set.
func wallStep() int64 { return wallNow().UnixNano() - nowNanos() }

// wallNow reads the wall clock (a test steps it).
var wallNow = time.Now

// clockStepWarnAt is the wall-clock step the report warns about. A
// frequency correction (NTP slewing) moves both clocks alike; only a step
// moves one against the other, so anything over a millisecond is one.
const clockStepWarnAt = int64(time.Millisecond)

// stepWatch keeps the largest wall-clock step seen since a baseline. It is
// safe for concurrent use.
type stepWatch struct {
	mu        sync.Mutex
	base, max int64
}

func newStepWatch() *stepWatch { return &stepWatch{base: wallStep()} }

// check takes one reading and returns the largest step so far (signed,
// nanoseconds).
func (s *stepWatch) check() int64 {
	d := wallStep()
	s.mu.Lock()
	defer s.mu.Unlock()
	if d -= s.base; abs64(d) > abs64(s.max) {
		s.max = d
	}
	return s.max
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
