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
		OpenAtStart:     10, Sent: 500, Received: 1000, Bytes: 64000, Other: 10, LatencyHDR: encodeHist(h1), ConnectHDR: encodeHist(c1),
		SentB: []int64{3, 4}, RecvB: []int64{60, 80}, FirstDisconnect: 0,
		Series: []Second{{T: 0, Conns: 10, Received: 400, P99Us: 100}, {T: 1, Conns: 10, Received: 600, P99Us: 120}}}
	r2 := &workerResult{Worker: 1, Connected: 9, Failed: 2, Failures: map[string]int{"refused": 1, "http_503": 1},
		OpenAtStart: 9, Sent: 5, Received: 10, Bytes: 640, LatencyHDR: encodeHist(h2), ConnectHDR: encodeHist(c2),
		SentB: []int64{1, 0, 2}, RecvB: []int64{19, 0, 38}, FirstDisconnect: 42,
		Series: []Second{{T: 1, Conns: 9, Received: 10, P99Us: 10_000}}}
	m, err := mergeResults([]*workerResult{r1, r2})
	if err != nil {
		t.Fatal(err)
	}
	if m.Connected != 19 || m.Failed != 3 || m.Failures["refused"] != 2 || m.Failures["http_503"] != 1 ||
		m.OpenAtStart != 19 || m.Sent != 505 || m.Received != 1010 || m.Bytes != 64640 || m.Other != 10 || m.FirstDisconnect != 42 {
		t.Fatalf("merged counts = %+v", m)
	}
	if m.FailureExamples["refused"].Msg != "a" {
		t.Errorf("examples = %+v", m.FailureExamples)
	}
	if want := []int64{4, 4, 2}; !equal(m.SentB, want) {
		t.Errorf("SentB = %v, want %v", m.SentB, want)
	}
	if want := []int64{79, 80, 38}; !equal(m.RecvB, want) {
		t.Errorf("RecvB = %v, want %v", m.RecvB, want)
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

// fillReport counts a broadcast window exactly, and cuts it at the first
// disconnect.
func TestFillReportBroadcastWindow(t *testing.T) {
	cfg, err := Config{Scenario: Broadcast, URL: "ws://127.0.0.1:1", Conns: 10, Duration: 3e9}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	const start = int64(1_000_000_000_000)
	m := &workerResult{OpenAtStart: 10, Sent: 32, Received: 299,
		SentB: []int64{10, 12, 10, 0, 0}, AckB: []int64{10, 10, 10, 0, 0}, RecvB: []int64{100, 99, 100, 0, 0}}
	rep := newReport(&cfg)
	fillReport(rep, &cfg, m, serverSnap{}, serverSnap{}, serverSnap{}, start)
	if mr := rep.Messages; mr.Expected != 300 || mr.Lost != 1 || mr.Extra != 0 || mr.Refused != 2 || mr.WindowSec != 3 {
		t.Fatalf("messages = %+v", mr)
	}
	m.FirstDisconnect = start + 2_500_000_000 // in second 2: count seconds 0 and 1
	rep = newReport(&cfg)
	fillReport(rep, &cfg, m, serverSnap{}, serverSnap{}, serverSnap{}, start)
	if mr := rep.Messages; mr.Expected != 200 || mr.Lost != 1 || mr.WindowSec != 2 {
		t.Fatalf("cut messages = %+v", mr)
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
