package bench

import (
	"strings"
	"testing"
	"time"
)

func TestParseThreshold(t *testing.T) {
	mixed := &Config{Scenario: Mixed, Mix: &Mix{Idle: 0.5, Echo: 0.5},
		Stages: []Stage{{Duration: time.Second, Target: 5, Name: "ramp"}, {Duration: time.Second, Target: 5}}}
	connect := &Config{Scenario: Connect}
	for _, tc := range []struct {
		text  string
		cfg   *Config
		err   string
		stage int
		limit float64
		pct   bool
	}{
		{"p99<50ms", mixed, "", 0, 50_000, false},
		{" p99.9 <= 1.5s ", mixed, "", 0, 1_500_000, false},
		{"echo_p50<250us", mixed, "", 0, 250, false},
		{"loss==0", mixed, "", 0, 0, false},
		{"connect_failed<0.1%", mixed, "", 0, 0.1, true},
		{"stage 2: connected>=5", mixed, "", 2, 5, false},
		{"ramp: connect_p99<1s", mixed, "", 1, 1e6, false},
		{"2:received_per_sec>10", mixed, "", 2, 10, false},
		{"p99x<1ms", mixed, `unknown metric "p99x"`, 0, 0, false},
		{"p99<50", mixed, "with its unit", 0, 0, false},
		{"p99 50ms", mixed, "want METRIC OP LIMIT", 0, 0, false},
		{"stage 3: p99<1s", mixed, "no stage 3", 0, 0, false},
		{"hold: p99<1s", mixed, `no stage named "hold"`, 0, 0, false},
		{"chat_p99<1s", mixed, "no chat users", 0, 0, false},
		{"p99<1s", connect, "sends no messages", 0, 0, false},
		{"stage 1: connected>1", connect, "has no stages", 0, 0, false},
		{"sent_per_sec>1%", mixed, "no percentage", 0, 0, false},
		{"connect_p99<100ms", connect, "", 0, 100_000, false},
		{"corrected_p99<1s", &Config{Scenario: Echo}, "", 0, 1e6, false},
		{"corrected_p99<1s", &Config{Scenario: Echo, Rate: 100}, "only closed-loop echo", 0, 0, false},
		{"lag_p99<10ms", mixed, "", 0, 10_000, false},
		{"lag_p99<10ms", connect, "nothing on a schedule", 0, 0, false},
		{"duplicated==0", mixed, "", 0, 0, false},
		{"skipped<1%", mixed, "", 0, 1, true},
	} {
		th, err := parseThreshold(tc.text, tc.cfg)
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: err = %v, want %q", tc.text, err, tc.err)
			continue
		}
		if err == nil && (th.stage != tc.stage || th.limit != tc.limit || th.pct != tc.pct) {
			t.Errorf("%q: stage %d limit %v pct %v, want %d %v %v", tc.text, th.stage, th.limit, th.pct, tc.stage, tc.limit, tc.pct)
		}
	}
}

// Thresholds judge the run's and each stage's figures, with the value.
func TestJudge(t *testing.T) {
	cfg := &Config{Scenario: Mixed, Mix: &Mix{Echo: 1},
		Stages: []Stage{{Duration: time.Second, Target: 100}, {Duration: time.Second, Target: 100, Thresholds: []string{"connected>=99", "lost<1"}}}}
	cfg.Thresholds = []string{"p99<10ms", "p99<1us", "loss==0", "loss<1%", "connect_failed<0.1%", "echo_p50<1ms", "sent_per_sec>=100"}
	ths, err := parseThresholds(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep := &Report{Scenario: Mixed, Conns: ConnReport{Connected: 1000, Failed: 2},
		Latency: &Latency{Count: 10, P50Us: 400, P99Us: 2500}, Mix: &MixReport{EchoRTT: &Latency{Count: 10, P50Us: 400}},
		Messages: &MessageReport{Sent: 300, Expected: 300, Lost: 1, SentPerSec: 150},
		Stages:   []StageReport{{Connected: 100}, {Connected: 98, Lost: 0}}}
	got := judge(ths, rep)
	want := []struct {
		pass  bool
		shown string
	}{{true, "2.50ms"}, {false, "2.50ms"}, {false, "1"}, {true, "0.333%"}, {false, "0.200%"}, {true, "400µs"}, {true, "150.0/s"},
		{false, "98"}, {true, "0"}}
	if len(got) != len(want) {
		t.Fatalf("%d results: %+v", len(got), got)
	}
	for i, w := range want {
		if got[i].Pass != w.pass || got[i].Shown != w.shown {
			t.Errorf("%s: pass %v shown %q, want %v %q", got[i].Threshold, got[i].Pass, got[i].Shown, w.pass, w.shown)
		}
	}
	if got[7].Stage != 2 {
		t.Errorf("a stage's own threshold is on stage %d, want 2", got[7].Stage)
	}
	if !rep.withThresholds(got).ThresholdsFailed() {
		t.Error("ThresholdsFailed = false with failures")
	}
	// No sample is a FAIL, not a pass.
	rep.Latency = nil
	if r := judge(ths[:1], rep)[0]; r.Pass || r.Why != "no samples" {
		t.Errorf("p99 without samples: %+v", r)
	}
}

func (r *Report) withThresholds(t []ThresholdResult) *Report {
	r.Thresholds = t
	return r
}
