package mempolicy

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// Defaults of a Releaser's zero fields.
const (
	DefaultMinWave     = 1000             // connections
	DefaultPeriod      = time.Second      // between two looks at the count
	DefaultMinInterval = 10 * time.Second // between two releases
)

// Releaser returns the memory freed by a wave of connections to the
// operating system: once the open-connection count has moved by at least
// MinWave and a tenth of itself since the last release (either way: a
// disconnect wave frees connection state, a connect wave leaves its
// handshakes' garbage) and then held still for a Period (it moved by less
// than 1%), it calls debug.FreeOSMemory. That forces a collection and
// hands every free page back; it costs one collection of the live heap
// (7 ms after a wave of 15,000 connections on the 2-core reference
// machine, logged at debug with what it returned), once per wave, never on
// a message path.
//
// Why not the runtime's own scavenger: it returns memory only above the
// heap goal (twice the live heap at GOGC=100) and slowly, so a node that
// held 100,000 connections keeps most of their memory long after they
// left.
type Releaser struct {
	// Open returns the number of open connections. Required.
	Open func() int64
	// MinWave is the smallest change of the count that is a wave. If zero,
	// DefaultMinWave.
	MinWave int64
	// Period is how often the count is read. If zero, DefaultPeriod.
	Period time.Duration
	// MinInterval is the shortest time between two releases. If zero,
	// DefaultMinInterval.
	MinInterval time.Duration
	// Release returns the memory; if nil, debug.FreeOSMemory.
	Release func()
	// Logger receives one line per release, at debug. If nil, discarded.
	Logger *slog.Logger

	releases atomic.Int64
	base     int64     // the count at the last release (0 at start)
	prev     int64     // the count at the last look
	last     time.Time // the last release
}

// Releases is the number of releases so far.
func (r *Releaser) Releases() int64 { return r.releases.Load() }

// Run reads the count every Period until ctx is done.
func (r *Releaser) Run(ctx context.Context) {
	period := r.Period
	if period <= 0 {
		period = DefaultPeriod
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			r.step(now, r.Open())
		}
	}
}

// step looks at the count n at now and releases if a wave is over; it
// reports whether it released.
func (r *Releaser) step(now time.Time, n int64) bool {
	prev := r.prev
	r.prev = n
	minWave, minInterval := r.MinWave, r.MinInterval
	if minWave <= 0 {
		minWave = DefaultMinWave
	}
	if minInterval <= 0 {
		minInterval = DefaultMinInterval
	}
	moved := abs(n - r.base)
	if moved < minWave || moved < max(n, r.base)/10 {
		return false // no wave
	}
	if abs(n-prev) > max(n, prev)/100 {
		return false // still moving
	}
	if !r.last.IsZero() && now.Sub(r.last) < minInterval {
		return false
	}
	from := r.base
	r.base, r.last = n, now
	release := r.Release
	if release == nil {
		release = debug.FreeOSMemory
	}
	start, before := time.Now(), heapReleased()
	release()
	r.releases.Add(1)
	if r.Logger != nil {
		r.Logger.Debug("mempolicy: returned memory after a connection wave", "from", from, "to", n,
			"returned_bytes", heapReleased()-before, "took", time.Since(start))
	}
	return true
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// heapReleased is the heap memory returned to the system, in bytes.
func heapReleased() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}
