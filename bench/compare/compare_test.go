package compare

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgews/bench"
)

func TestMarkdownRatios(t *testing.T) {
	rep := func(perSec, p99us, cpuPerM float64) *bench.Report {
		return &bench.Report{
			Messages:         &bench.MessageReport{PerSec: perSec},
			LatencyCorrected: &bench.Latency{P99Us: p99us},
			Servers:          []bench.ServerReport{{PID: 1, CPUSecPerMillion: cpuPerM}},
		}
	}
	results := []Result{
		{Server: "wsnode", Scenario: "echo", Report: rep(120000, 2000, 5)},
		{Server: "gws", Scenario: "echo", Report: rep(100000, 4000, 10)},
		{Server: "nbio", Scenario: "echo", Report: rep(80000, 1000, 8)},
	}
	var b bytes.Buffer
	Markdown(&b, results)
	out := b.String()
	for _, want := range []string{
		"| metric | wsnode | gws | nbio | wsnode/gws | wsnode/nbio | wsnode/best peer |",
		// msgs/s: higher is better, best peer is gws (100k).
		"| echo msgs/s | 120000 | 100000 | 80000 | 1.20 | 1.50 | 1.20 |",
		// p99: lower is better, best peer is nbio (1 ms).
		"| echo p99 round trip, closed loop, corrected (lower is better) | 2.00 ms | 4.00 ms | 1.00 ms | 0.50 | 2.00 | 2.00 |",
		"| server CPU s per 1M echoes (lower is better) | 5.00 s | 10.00 s | 8.00 s | 0.50 | 0.62 | 0.62 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks\n%s\ngot\n%s", want, out)
		}
	}
	// A run that gave no figure for a metric (0 CPU ticks in a short run)
	// is not measured there, not failed.
	b.Reset()
	Markdown(&b, append(results[:2:2], Result{Server: "nbio", Scenario: "echo", Report: rep(80000, 1000, 0)}))
	if !strings.Contains(b.String(), "| server CPU s per 1M echoes (lower is better) | 5.00 s | 10.00 s | n/a |") || strings.Contains(b.String(), "failed") {
		t.Errorf("unmeasured figure not shown as n/a:\n%s", b.String())
	}
	// A failed run shows as such and is listed with its error.
	b.Reset()
	Markdown(&b, append(results[:2:2], Result{Server: "nbio", Scenario: "echo", Err: os.ErrDeadlineExceeded}))
	if !strings.Contains(b.String(), "| failed |") || !strings.Contains(b.String(), "nbio echo: ") {
		t.Errorf("failed run not shown:\n%s", b.String())
	}
	// A scenario the server does not serve shows n/a and is no error.
	b.Reset()
	Markdown(&b, append(results[:2:2], Result{Server: "uws", Scenario: "echo", Err: ErrUnsupported}))
	if !strings.Contains(b.String(), "| echo msgs/s | 120000 | 100000 | n/a | 1.20 | - | 1.20 |") || strings.Contains(b.String(), "uws echo: ") {
		t.Errorf("unsupported scenario not shown as n/a:\n%s", b.String())
	}
}

// With repeats, a figure is the median of the server's runs; the context
// switch rows read the server report.
func TestMarkdownMedians(t *testing.T) {
	rep := func(perSec, csw, vcs float64) *bench.Report {
		return &bench.Report{
			Messages: &bench.MessageReport{PerSec: perSec, Received: 1000},
			Servers:  []bench.ServerReport{{PID: 1, CPUSeconds: 2, SysSeconds: 1.5, CtxSwitchesPerMsg: csw, VolCtxSwitchesPerMsg: vcs}},
		}
	}
	var results []Result
	for i, v := range []float64{100, 300, 200} {
		results = append(results, Result{Server: "wsnode --loops 1", Scenario: "echo", Report: rep(v, 0.1*float64(i+1), 0.01)})
		results = append(results, Result{Server: "uws", Scenario: "echo", Report: rep(2*v, 0.05, 0.002)})
	}
	var b bytes.Buffer
	Markdown(&b, results)
	for _, want := range []string{
		"| metric | wsnode --loops 1 | uws | wsnode --loops 1/uws | wsnode --loops 1/best peer |",
		"| echo msgs/s | 200 | 400 | 0.50 | 0.50 |",
		"| server system CPU share (lower is better) | 75.00 % | 75.00 % | 1.00 | 1.00 |",
		"| server context switches per echo (lower is better) | 0.200 | 0.050 | 4.00 | 4.00 |",
		"| server voluntary context switches per echo (lower is better) | 0.010 | 0.002 | 5.00 | 5.00 |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks\n%s\ngot\n%s", want, b.String())
		}
	}
}

func TestServerEntries(t *testing.T) {
	if bin, flags := serverSpec("wsnode  --loops 1"); bin != "wsnode" || strings.Join(flags, " ") != "--loops 1" {
		t.Errorf("serverSpec = %q, %q", bin, flags)
	}
	if got := reportName("wsnode --loops 1", "echo"); got != "wsnode_--loops_1-echo.json" {
		t.Errorf("reportName = %q", got)
	}
	if got := reportName("a/b c", "connect"); got != "a_b_c-connect.json" {
		t.Errorf("reportName = %q", got)
	}
	if supports("uws", "echo-deflate") || !supports("uws", "echo") || !supports("wsnode --loops 1", "broadcast-deflate") {
		t.Error("supports: uws serves every scenario but the deflate ones, the others all")
	}
}

// End to end: build the node and wsbench, run a small echo, broadcast and
// idle /chat connect against two node processes named differently (a
// stand-in peer), and read the table. Every figure must be a number and the
// node's share of loss 0.
func TestRunAgainstTwoServers(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []string{"wsnode", "wsbench"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, c), "edgews/cmd/"+c).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", c, err, out)
		}
	}
	if err := os.Symlink(filepath.Join(dir, "wsnode"), filepath.Join(dir, "other")); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	results := Run(ctx, Config{
		Bin: dir, Servers: []string{"wsnode", "other --loops 1"}, Scenarios: []string{"echo", "echo-open", "broadcast", "connect-chat", "echo-deflate", "broadcast-deflate"},
		EchoConns: 20, EchoRate: 400, BroadcastConns: 50, BroadcastSenders: 2, BroadcastRate: 10, DeflateConns: 30,
		ConnectConns: 30, ConnectHold: 500 * time.Millisecond,
		Duration: time.Second, Ramp: 1000, Reports: filepath.Join(dir, "reports"), Log: &log,
	})
	if len(results) != 12 {
		t.Fatalf("%d results, want 12", len(results))
	}
	for _, r := range results {
		if r.Err != nil {
			t.Fatalf("%s %s: %v\nlog:\n%s", r.Server, r.Scenario, r.Err, log.String())
		}
		if r.Scenario == "connect-chat" {
			// Idle /chat users (chat members), not /echo connections.
			if r.Report.Conns.Connected != 30 || !strings.HasSuffix(r.Report.URL, "/chat") {
				t.Fatalf("%s connect-chat: %d connected to %s, want 30 to /chat", r.Server, r.Report.Conns.Connected, r.Report.URL)
			}
			continue
		}
		if r.Report.Messages == nil || r.Report.Messages.Received == 0 || r.Report.Messages.Lost != 0 {
			t.Fatalf("%s %s: messages %+v", r.Server, r.Scenario, r.Report.Messages)
		}
		if m := r.Report.Messages; strings.HasSuffix(r.Scenario, "-deflate") && m.WireBytesPerMsg > m.PayloadBytesPerMsg/2 {
			t.Fatalf("%s %s: %.0f wire bytes per %.0f payload bytes: not compressed", r.Server, r.Scenario, m.WireBytesPerMsg, m.PayloadBytesPerMsg)
		}
		if len(r.Report.Servers) == 0 || r.Report.Servers[0].PID == 0 {
			t.Fatalf("%s %s: no server measurement", r.Server, r.Scenario)
		}
		if s := r.Report.Servers[0]; s.CtxSwitches <= 0 || s.VolCtxSwitches > s.CtxSwitches || s.SysSeconds > s.CPUSeconds {
			t.Fatalf("%s %s: server %+v", r.Server, r.Scenario, s)
		}
		if _, err := os.Stat(filepath.Join(dir, "reports", reportName(r.Server, r.Scenario))); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	Markdown(&b, results)
	if !strings.Contains(b.String(), "| echo msgs/s |") || !strings.Contains(b.String(), "| broadcast deliveries/s |") ||
		!strings.Contains(b.String(), "| echo p99 round trip, open loop (lower is better) |") ||
		!strings.Contains(b.String(), "| echo lost + duplicated, open loop (lower is better) | 0 | 0 |") ||
		!strings.Contains(b.String(), "| compressed broadcast wire bytes per delivery (lower is better) |") ||
		!strings.Contains(b.String(), "| idle /chat users held | 30 | 30 |") || !strings.Contains(b.String(), "| server RSS per idle /chat user (lower is better) |") ||
		strings.Contains(b.String(), "failed") {
		t.Fatalf("table:\n%s", b.String())
	}
}
