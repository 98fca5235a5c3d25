package bench

import (
	"strings"
	"testing"
	"time"
)

// The run's clock follows the monotonic clock: a step of the wall clock
// moves no timestamp, the step watch sees it, and a multi-process report
// warns about it (its processes may disagree by as much); a single-process
// one does not need to.
func TestClockStep(t *testing.T) {
	defer func() { wallNow = time.Now }()
	s := newStepWatch()
	before := nowNanos()
	wallNow = func() time.Time { return time.Now().Add(-3 * time.Second) } // set back 3 s
	if d := nowNanos() - before; d < 0 || d > int64(time.Second) {
		t.Fatalf("the clock moved %v with the wall clock", time.Duration(d))
	}
	if step := s.check(); step > -int64(3*time.Second)+int64(100*time.Millisecond) || step < -int64(3*time.Second)-int64(100*time.Millisecond) {
		t.Fatalf("step watch saw %v, want about -3s", time.Duration(step))
	}
	for _, procs := range []int{1, 2} {
		cfg, err := Config{Scenario: Connect, URL: "ws://127.0.0.1:1", Conns: 2, Procs: procs}.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		cfg.Procs = procs // withDefaults caps Procs at the users
		rep := newReport(&cfg)
		fillReport(rep, &cfg, &workerResult{ClockStepNs: -3e9}, serverSnap{}, serverSnap{}, serverSnap{}, 0, 0)
		warned := strings.Contains(strings.Join(rep.Warnings, "\n"), "wall clock stepped by -3s")
		if rep.ClockStepUs != -3e6 || warned != (procs > 1) {
			t.Errorf("procs %d: clock step %v µs, warnings %q", procs, rep.ClockStepUs, rep.Warnings)
		}
	}
}

// The corrected histogram records, for each value over the interval, the
// values the held-back samples would have had: what RecordCorrectedValue
// does sample by sample, within the histogram's precision (the
// correction starts from a bucket's value, not the exact sample: off by
// at most the largest value's bucket, 0.1% of it).
func TestCorrectedHistMatchesRecordCorrectedValue(t *testing.T) {
	raw, want := newHist(), newHist()
	for _, v := range []int64{300, 500, 500, 1200, 1_500_000, 80} {
		_ = raw.RecordValue(v)
		_ = want.RecordCorrectedValue(v, 400)
	}
	got := correctedHist(raw, 400)
	if got.TotalCount() != want.TotalCount() || got.TotalCount() < 3700 {
		t.Fatalf("corrected count %d, want %d", got.TotalCount(), want.TotalCount())
	}
	for _, q := range []float64{10, 50, 90, 99, 99.9, 100} {
		if g, w := got.ValueAtQuantile(q), want.ValueAtQuantile(q); g < w-1500 || g > w+1500 {
			t.Errorf("p%v = %d, want %d", q, g, w)
		}
	}
}

// A seqWindow tells first copies from duplicates, out of order within the
// window, and gives up beyond it.
func TestSeqWindow(t *testing.T) {
	var w seqWindow
	steps := []struct {
		q    uint32
		want arrival
	}{
		{0, firstCopy}, {1, firstCopy}, {1, duplicate}, {5, firstCopy}, {3, firstCopy}, {3, duplicate},
		{2, firstCopy}, {4, firstCopy}, {0, duplicate}, {100, firstCopy}, {69, firstCopy}, {68, beyondWindow},
		{99, firstCopy}, {100, duplicate},
	}
	for i, s := range steps {
		if got := w.add(s.q); got != s.want {
			t.Fatalf("step %d: seq %d is %d, want %d", i, s.q, got, s.want)
		}
	}
}

// The timetables are the same wherever they are computed, and their slots
// are those due within the duration.
func TestTimetables(t *testing.T) {
	chat, _ := Config{Scenario: Chat, URL: "ws://127.0.0.1:1", Conns: 100, TalkRate: 50, Duration: 2 * time.Second}.withDefaults()
	bc, _ := Config{Scenario: Broadcast, URL: "ws://127.0.0.1:1", Conns: 100, Senders: 4, Rate: 40, Duration: 2 * time.Second}.withDefaults()
	for _, cfg := range []Config{chat, bc} {
		for k := range cfg.sendersOf() {
			st := cfg.slotsOf(7, k, true)
			tt := cfg.timetableOf(7, k)
			var n uint32
			for ; tt.at < int64(cfg.Duration); tt.advance() {
				if st.due(n) != tt.at || st.before(tt.at) != n || st.before(tt.at+1) != n+1 {
					t.Fatalf("%s sender %d slot %d: due %d before %d, timetable %d", cfg.Scenario, k, n, st.due(n), st.before(tt.at), tt.at)
				}
				n++
			}
			if n != st.n || (cfg.Scenario == Broadcast && n != 20) || n == 0 {
				t.Fatalf("%s sender %d: %d slots walked, %d counted", cfg.Scenario, k, n, st.n)
			}
		}
	}
	if a, b := chat.slotsOf(7, 1, false).n, chat.slotsOf(8, 1, false).n; a == b && chat.slotsOf(7, 2, false).n == chat.slotsOf(8, 2, false).n {
		t.Errorf("seeds 7 and 8 give the same timetables")
	}
}
