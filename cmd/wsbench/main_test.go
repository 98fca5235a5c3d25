package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"edgews/bench"
	"edgews/bench/benchtest"
	"edgews/engine"
	"edgews/engine/enginetest"
	"edgews/hub"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	var opts []goleak.Option
	for _, f := range engine.ProcessGoroutines() {
		opts = append(opts, goleak.IgnoreTopFunction(f))
	}
	goleak.VerifyTestMain(m, opts...)
}

// capture runs the command line and returns its exit code, stdout and
// stderr.
func capture(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = outW, errW
	outC, errC := make(chan string), make(chan string)
	go func() { b, _ := io.ReadAll(outR); outC <- string(b) }()
	go func() { b, _ := io.ReadAll(errR); errC <- string(b) }()
	code := run(args)
	os.Stdout, os.Stderr = stdout, stderr
	outW.Close()
	errW.Close()
	return code, <-outC, <-errC
}

// The attacks' own defaults (line size, rate, duration) apply unless a flag
// says otherwise, although the flags' defaults are the other scenarios'.
func TestAttackUsesItsDefaults(t *testing.T) {
	srv := engine.New(engine.Config{Addr: "127.0.0.1:0", Loops: 2})
	hub.New(srv, hub.Config{})
	enginetest.Start(t, srv)
	code, out, errOut := capture(t, "attack-outbound", "--url", "ws://"+srv.Addr().String(), "-c", "3", "--healthy", "1",
		"--lines", "20", "--settle", "100ms", "--loops", "2", "--json", "-q")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v in %q", err, out)
	}
	p := rep.Params
	if p.Payload != bench.DefaultAttackLine || p.Rate != bench.DefaultAttackRate || p.Lines != 20 || p.Healthy != 1 || p.SettleSec != 0.1 {
		t.Fatalf("params = %+v, want the attack's line size and rate", p)
	}
	// Twice the time the lines take at the rate, plus a second.
	if want := (2*20*time.Second/bench.DefaultAttackRate + time.Second).Seconds(); p.DurationSec != want {
		t.Errorf("duration %v s, want %v", p.DurationSec, want)
	}
	if a := rep.Attack; a == nil || a.Attackers != 3 || rep.Messages.Sent != 20 || rep.Messages.Received != 20*2 {
		t.Fatalf("attack %+v, messages %+v: want 3 hogs, 20 lines to the 2 readers", rep.Attack, rep.Messages)
	}
	code, _, errOut = capture(t, "attack-outbound", "--url", "ws://127.0.0.1:1", "--payload", "70000")
	if code != 1 || !strings.Contains(errOut, "line size 70000 is over the bound") {
		t.Fatalf("exit %d, stderr %q: want the --payload bound named", code, errOut)
	}
}

func TestAttackRefusesRemoteTarget(t *testing.T) {
	code, out, errOut := capture(t, "attack-inbound", "--url", "ws://192.0.2.1:8080")
	if code != 1 || out != "" || !strings.Contains(errOut, "wsbench: attack scenarios only target a loopback server") {
		t.Fatalf("exit %d, stdout %q, stderr %q: want exit 1 naming the loopback rule", code, out, errOut)
	}
}

// --url takes several nodes, comma-separated or repeated: connections are
// dealt over all of them and the report counts each node's.
func TestSeveralURLs(t *testing.T) {
	var urls []string
	for range 3 {
		srv := engine.New(engine.Config{Addr: "127.0.0.1:0", Loops: 2})
		hub.New(srv, hub.Config{})
		enginetest.Start(t, srv)
		urls = append(urls, "ws://"+srv.Addr().String())
	}
	code, out, errOut := capture(t, "connect", "--url", urls[0]+","+urls[1], "--url", urls[2], "-c", "7",
		"--hold", "100ms", "--loops", "2", "--json", "-q")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v in %q", err, out)
	}
	if len(rep.Nodes) != 3 || rep.Conns.Connected != 7 {
		t.Fatalf("nodes %+v, conns %+v: want 7 connections over 3 nodes", rep.Nodes, rep.Conns)
	}
	for i, n := range rep.Nodes {
		if want := []int{3, 2, 2}[i]; n.URL != urls[i]+"/echo" || n.Users != want || n.Connected != want {
			t.Errorf("node %d = %+v, want %s/echo with %d connected", i, n, urls[i], want)
		}
	}
	code, _, errOut = capture(t, "connect", "--url", urls[0]+",http://127.0.0.1:1")
	if code != 1 || !strings.Contains(errOut, "scheme must be ws") {
		t.Fatalf("exit %d, stderr %q: want the bad second URL named", code, errOut)
	}
}

// echo is closed loop unless --rate or --conn-rate is given, although
// --rate has broadcast's default: then open loop, its latency from the
// scheduled send times; closed loop adds the corrected histogram.
func TestEchoRateFlags(t *testing.T) {
	srv := engine.New(engine.Config{Addr: "127.0.0.1:0", Loops: 2})
	hub.New(srv, hub.Config{})
	enginetest.Start(t, srv)
	url := "ws://" + srv.Addr().String()
	for _, tc := range []struct {
		name     string
		args     []string
		rate     float64
		connRate float64
		from     string
	}{
		{"closed loop", nil, 0, 0, "sent"},
		{"--rate", []string{"--rate", "400"}, 400, 100, "scheduled"},
		{"--conn-rate", []string{"--conn-rate", "50"}, 200, 50, "scheduled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"echo", "--url", url, "-c", "4", "--duration", "500ms", "--loops", "2", "--json", "-q"}, tc.args...)
			code, out, errOut := capture(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var rep bench.Report
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("%v in %q", err, out)
			}
			if rep.Params.Rate != tc.rate || rep.Params.ConnRate != tc.connRate || rep.LatencyFrom != tc.from ||
				(rep.LatencyCorrected != nil) != (tc.rate == 0) || rep.Messages.Lost != 0 {
				t.Fatalf("params %+v, latency from %q, corrected %v, messages %+v", rep.Params, rep.LatencyFrom, rep.LatencyCorrected != nil, rep.Messages)
			}
		})
	}
	code, _, errOut := capture(t, "echo", "--url", url, "--rate", "10", "--conn-rate", "1")
	if code != 1 || !strings.Contains(errOut, "not both") {
		t.Fatalf("exit %d, stderr %q: want --rate with --conn-rate refused", code, errOut)
	}
}

// writePlan writes a plan file for the test.
func writePlan(t *testing.T, plan string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "plan.yaml")
	if err := os.WriteFile(name, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// Thresholds judge the report: all passing exits 0, a failing one exits
// 99 after the report with FAIL and the value, and one on a metric that
// does not exist is refused before any connection opens.
func TestRunPlanThresholds(t *testing.T) {
	srv := engine.New(engine.Config{Addr: "127.0.0.1:0", Loops: 2})
	hub.New(srv, hub.Config{})
	enginetest.Start(t, srv)
	plan := writePlan(t, `
url: ws://`+srv.Addr().String()+`/chat
mix: {idle: 0.5, echo: 0.25, chat: 0.25, echo_rate: 10}
drain: 2s
loops: 2
stages:
  - {duration: 500ms, target: 20}
  - {duration: 1s, target: 20, name: hold, thresholds: ["connected>=18"]}
thresholds: ["p99<10s", "loss==0", "connect_failed<0.1%"]
`)
	code, out, errOut := capture(t, "run", plan, "-q")
	if code != 0 || strings.Count(out, "PASS") != 4 || strings.Contains(out, "FAIL") {
		t.Fatalf("exit %d, stdout:\n%s\nstderr: %s", code, out, errOut)
	}
	for _, want := range []string{`stage 2 \(hold\)`, `PASS +p99<10s  p99 = \d`, `PASS +connected>=18  connected = (18|19|20)\n`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	code, out, errOut = capture(t, "run", plan, "-q", "--json", "--threshold", "p99<1us")
	var rep bench.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("exit %d: %v in %q (%s)", code, err, out, errOut)
	}
	var last bench.ThresholdResult
	for _, th := range rep.Thresholds {
		if th.Threshold == "p99<1us" {
			last = th
		}
	}
	if code != 99 || last.Threshold != "p99<1us" || last.Pass || last.Value < 1 || !strings.Contains(errOut, "threshold FAILED: p99<1us (p99 = ") {
		t.Fatalf("exit %d, thresholds %+v, stderr %q: want 99 and p99<1us failed with its value", code, rep.Thresholds, errOut)
	}
	if len(rep.Stages) != 2 || rep.Stages[1].Connected+rep.Stages[1].Opening != 20 {
		t.Errorf("stages %+v", rep.Stages)
	}

	// An unknown metric: refused before the first connection.
	addr, accepted := benchtest.Counter(t)
	bad := writePlan(t, "url: ws://"+addr+"\nstages: [{duration: 1s, target: 5}]\nthresholds: [\"p99x<1ms\"]\n")
	code, out, errOut = capture(t, "run", bad, "-q")
	if code != 1 || out != "" || !strings.Contains(errOut, `unknown metric "p99x"`) || accepted() != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %q, %d connections: want exit 1 naming the metric, no connection", code, out, errOut, accepted())
	}
	code, _, errOut = capture(t, "echo", "--url", "ws://"+addr, "--threshold", "chat_p99<1s")
	if code != 1 || !strings.Contains(errOut, "cannot measure chat_p99") || accepted() != 0 {
		t.Fatalf("exit %d, stderr %q: want a chat metric refused for echo", code, errOut)
	}
}
