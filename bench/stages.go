package bench

import (
	"fmt"
	"math"
	"time"
)

// Stage is one step of a staged run: over Duration the connection count
// goes in a straight line from the previous stage's Target (0 before the
// first stage) to this one's, by opening or closing connections one at a
// time. A stage with the previous target holds; a zero Duration jumps (as
// fast as the dialers go).
type Stage struct {
	Duration time.Duration `json:"duration"`
	Target   int           `json:"target"`
	// Name labels the stage in reports and thresholds ("ramp:p99<50ms");
	// empty: its number, from 1.
	Name string `json:"name,omitempty"`
	// Thresholds hold over this stage only (see threshold.go).
	Thresholds []string `json:"thresholds,omitempty"`
}

// MaxStages bounds Config.Stages.
const MaxStages = 1000

// checkStages validates a staged run's stages and returns the largest target.
func checkStages(stages []Stage) (peak int, err error) {
	if len(stages) == 0 {
		return 0, fmt.Errorf("bench: a staged run needs stages (write a plan: wsbench run PLAN.yaml)")
	}
	if len(stages) > MaxStages {
		return 0, fmt.Errorf("bench: %d stages, at most %d", len(stages), MaxStages)
	}
	names := map[string]int{}
	for i, s := range stages {
		switch {
		case s.Duration < 0:
			return 0, fmt.Errorf("bench: stage %d: negative duration %v", i+1, s.Duration)
		case s.Target < 0:
			return 0, fmt.Errorf("bench: stage %d: negative target %d", i+1, s.Target)
		case s.Name != "" && names[s.Name] != 0:
			return 0, fmt.Errorf("bench: stage %d: name %q is stage %d's too", i+1, s.Name, names[s.Name])
		}
		if s.Name != "" {
			names[s.Name] = i + 1
		}
		peak = max(peak, s.Target)
	}
	if peak == 0 {
		return 0, fmt.Errorf("bench: stages never open a connection (every target is 0)")
	}
	return peak, nil
}

// stagesDuration is the stages' total length.
func stagesDuration(stages []Stage) time.Duration {
	var d time.Duration
	for _, s := range stages {
		d += s.Duration
	}
	return d
}

// schedule puts stages on the clock. Slot i (0-based, over all workers)
// is open at t exactly when count(t) > i: the slots open in order as the
// count rises and close from the top as it falls, so every process can
// tell when any slot opens and closes without asking.
type schedule struct {
	start  int64   // Unix ns: the first stage begins
	stages []Stage // as given
	ends   []int64 // Unix ns: the end of each stage
}

func newSchedule(start int64, stages []Stage) *schedule {
	s := &schedule{start: start, stages: stages, ends: make([]int64, len(stages))}
	t := start
	for i, st := range stages {
		t += int64(st.Duration)
		s.ends[i] = t
	}
	return s
}

// end is when the last stage ends.
func (s *schedule) end() int64 {
	if len(s.ends) == 0 {
		return s.start
	}
	return s.ends[len(s.ends)-1]
}

// begin is when stage i begins.
func (s *schedule) begin(i int) int64 {
	if i == 0 {
		return s.start
	}
	return s.ends[i-1]
}

// from is the target stage i starts from: the previous stage's.
func (s *schedule) from(i int) float64 {
	if i == 0 {
		return 0
	}
	return float64(s.stages[i-1].Target)
}

// stageAt is the index of the stage running at t: 0 before the start,
// len(stages) after the end.
func (s *schedule) stageAt(t int64) int {
	for i, e := range s.ends {
		if t < e {
			return i
		}
	}
	return len(s.ends)
}

// level is the target at t, on the straight line of its stage.
func (s *schedule) level(t int64) float64 {
	if t < s.start || len(s.stages) == 0 {
		return 0
	}
	i := s.stageAt(t)
	if i == len(s.stages) {
		return float64(s.stages[i-1].Target)
	}
	b, e := s.begin(i), s.ends[i]
	a, z := s.from(i), float64(s.stages[i].Target)
	return a + (z-a)*float64(t-b)/float64(e-b) // e > b: a zero-length stage is never the one at t
}

// levelEps absorbs the rounding of level, so that a target reached
// exactly counts as reached.
const levelEps = 1e-9

// count is the number of slots open at t.
func (s *schedule) count(t int64) int { return int(math.Floor(s.level(t) + levelEps)) }

// crossing is a time at which slot i opens (up) or closes.
type crossing struct {
	t  int64
	up bool
}

// cross is where stage k's line passes lv, given whether the slot is open
// as the stage begins: going up past it (it opens) or falling below it
// (it closes). ok is false if the stage leaves the slot as it was.
func (s *schedule) cross(k int, lv float64, open bool) (t int64, ok bool) {
	a, z := s.from(k), float64(s.stages[k].Target)
	b, e := s.begin(k), s.ends[k]
	switch {
	case !open && z >= lv:
		t = b
		if e > b && a < lv {
			t = b + int64(math.Ceil((lv-a)/(z-a)*float64(e-b)))
		}
	case open && z < lv:
		t = b
		if e > b {
			// Open while the level is at least lv: closed just after.
			t = b + int64(math.Floor((a-lv)/(a-z)*float64(e-b))) + 1
		}
	default:
		return 0, false
	}
	return min(t, e), true
}

// crossings lists when slot i opens and closes, in time order: where the
// line of each stage passes i+1 going up (opens) or falls below it
// (closes).
func (s *schedule) crossings(i int) []crossing {
	lv := float64(i+1) - levelEps
	var out []crossing
	open := false
	for k := range s.stages {
		if t, ok := s.cross(k, lv, open); ok {
			open = !open
			out = append(out, crossing{t: t, up: open})
		}
	}
	return out
}

// openedAt is when slot i last opened at or before t (0: it is not open at
// t). It allocates nothing: whispers ask it per message.
func (s *schedule) openedAt(i int, t int64) int64 {
	lv := float64(i+1) - levelEps
	var at int64
	open := false
	for k := range s.stages {
		c, ok := s.cross(k, lv, open)
		if !ok {
			continue
		}
		if c > t {
			break
		}
		if open = !open; open {
			at = c
		} else {
			at = 0
		}
	}
	return at
}

// closesAt is when slot i next closes after t; math.MaxInt64 if it stays
// open to the end of the stages (the run's final close is not planned).
func (s *schedule) closesAt(i int, t int64) int64 {
	lv := float64(i+1) - levelEps
	open := false
	for k := range s.stages {
		c, ok := s.cross(k, lv, open)
		if !ok {
			continue
		}
		if open = !open; !open && c > t {
			return c
		}
	}
	return math.MaxInt64
}

// bucketOf is the accounting second of t, counted from the start (-1
// before it).
func (s *schedule) bucketOf(t int64) int64 {
	if t < s.start {
		return -1
	}
	return (t - s.start) / int64(time.Second)
}

// bucketStart is when second b begins.
func (s *schedule) bucketStart(b int64) int64 { return s.start + b*int64(time.Second) }
