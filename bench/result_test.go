package bench

import (
	"testing"
)

// Merging two workers' results adds counts and merges histograms bucket by
// bucket: the merged percentiles are those of all the samples, not averages
// of the workers' percentiles.
func TestMergeResults(t *testing.T) {
	h1, h2 := newHist(), newHist()
	for range 1000 {
		_ = h1.RecordValue(100) // worker 0: 1000 fast samples
	}
	for range 10 {
		_ = h2.RecordValue(10_000) // worker 1: 10 slow samples
	}
	c1, c2 := newHist(), newHist()
	_ = c1.RecordValue(300)
	_ = c2.RecordValue(500)
	r1 := &workerResult{Worker: 0, Connected: 10, Failed: 1, Failures: map[string]int{"refused": 1},
		FailureExamples: map[string]*FailError{"refused": {Reason: ReasonRefused, Msg: "a"}},
		OpenAtStart:     10, msgCounts: msgCounts{Sent: 500, Received: 1000, Bytes: 64000, Other: 10}, LatencyHDR: encodeHist(h1), ConnectHDR: encodeHist(c1),
		Pairs: []pairCounts{{First: 60, Duplicated: 1}}, Seen: [][]uint64{{0b0011}, nil}, SentSlots: [][]uint64{{0b0111}, nil},
		Left: []leftUser{{User: 1, Cut: 7}}, RampBegin: 100, LastOpen: 900, ClockStepNs: -3,
		Series: []Second{{T: 0, Conns: 10, Received: 400, P99Us: 100}, {T: 1, Conns: 10, Received: 600, P99Us: 120}}}
	r2 := &workerResult{Worker: 1, Connected: 9, Failed: 2, Failures: map[string]int{"refused": 1, "http_503": 1},
		OpenAtStart: 9, msgCounts: msgCounts{Sent: 5, Received: 10, Bytes: 640}, LatencyHDR: encodeHist(h2), ConnectHDR: encodeHist(c2),
		Pairs: []pairCounts{{First: 19, Extra: 2}}, Seen: [][]uint64{{0b0101}, {0b1}}, SentSlots: [][]uint64{nil, {0b1}},
		Whispers: []whisperSent{{Sender: 1, Seq: 0, To: 4}}, RampBegin: 50, LastOpen: 800, ClockStepNs: 2,
		Series: []Second{{T: 1, Conns: 9, Received: 10, P99Us: 10_000}}}
	m, err := mergeResults([]*workerResult{r1, r2})
	if err != nil {
		t.Fatal(err)
	}
	if m.Connected != 19 || m.Failed != 3 || m.Failures["refused"] != 2 || m.Failures["http_503"] != 1 ||
		m.OpenAtStart != 19 || m.Sent != 505 || m.Received != 1010 || m.Bytes != 64640 || m.Other != 10 {
		t.Fatalf("merged counts = %+v", m)
	}
	if m.FailureExamples["refused"].Msg != "a" {
		t.Errorf("examples = %+v", m.FailureExamples)
	}
	// Pair counts add up, bitmaps OR, lists join; the ramp spans both.
	if m.Pairs[0] != (pairCounts{First: 79, Duplicated: 1, Extra: 2}) || m.Seen[0][0] != 0b0111 || m.Seen[1][0] != 1 ||
		m.SentSlots[0][0] != 0b0111 || m.SentSlots[1][0] != 1 || len(m.Whispers) != 1 || len(m.Left) != 1 {
		t.Errorf("tracking = %+v %v %v %v %v", m.Pairs, m.Seen, m.SentSlots, m.Whispers, m.Left)
	}
	if m.RampBegin != 50 || m.LastOpen != 900 || m.ClockStepNs != -3 {
		t.Errorf("ramp %d..%d, clock step %d, want 50..900 and the largest step, -3", m.RampBegin, m.LastOpen, m.ClockStepNs)
	}
	if len(m.Series) != 2 || m.Series[1] != (Second{T: 1, Conns: 19, Received: 610, P99Us: 10_000}) {
		t.Errorf("series = %+v", m.Series)
	}

	lh, err := decodeHist(m.LatencyHDR)
	if err != nil {
		t.Fatal(err)
	}
	if lh.TotalCount() != 1010 {
		t.Fatalf("merged count = %d, want 1010", lh.TotalCount())
	}
	for _, tc := range []struct {
		q    float64
		want int64
	}{{50, 100}, {99, 100}, {99.5, 10_000}, {100, 10_000}} {
		if got := lh.ValueAtQuantile(tc.q); !lh.ValuesAreEquivalent(got, tc.want) {
			t.Errorf("merged p%v = %d, want %d", tc.q, got, tc.want)
		}
	}
	// The average of the workers' medians would say 5050 µs.
	ch, _ := decodeHist(m.ConnectHDR)
	if ch.TotalCount() != 2 || !ch.ValuesAreEquivalent(ch.Max(), 500) {
		t.Errorf("connect hist n=%d max=%d", ch.TotalCount(), ch.Max())
	}
}

// fillReport counts echo message by message: a duplicate reply never
// makes up for a lost one.
func TestFillReportEchoCounts(t *testing.T) {
	cfg, err := Config{Scenario: Echo, URL: "ws://127.0.0.1:1", Conns: 10, Duration: 2e9}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	m := &workerResult{OpenAtStart: 10, msgCounts: msgCounts{Sent: 100, Received: 103, EchoFirst: 97, EchoDup: 5, EchoExtra: 1}}
	rep := newReport(&cfg)
	fillReport(rep, &cfg, m, serverSnap{}, serverSnap{}, serverSnap{}, 0, 0)
	mr := rep.Messages
	if mr.Expected != 100 || mr.Lost != 3 || mr.Duplicated != 5 || mr.Extra != 1 || mr.LossPct != 3 {
		t.Fatalf("messages = %+v, want 3 lost, 5 duplicated, 1 extra of 100", mr)
	}
	if mr.Received != mr.Expected-mr.Lost+mr.Duplicated+mr.Extra {
		t.Fatalf("received %d != expected - lost + duplicated + extra", mr.Received)
	}
}
