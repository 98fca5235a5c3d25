package bench_test

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"edgews/bench"
	"edgews/bench/benchtest"
	"edgews/engine"
	"edgews/hub"
	"go.uber.org/goleak"
)

// checkLeaks fails the test if goroutines it started are still running at
// its end (the engine's process-wide pool aside).
func checkLeaks(t *testing.T) {
	t.Helper()
	opts := []goleak.Option{goleak.IgnoreCurrent()}
	for _, f := range engine.ProcessGoroutines() {
		opts = append(opts, goleak.IgnoreTopFunction(f))
	}
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
}

// getMetrics is a client that leaves no connection (nor goroutine) behind.
var getMetrics = (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}).Get

// scrape reads one metric (without labels) from a Prometheus endpoint.
func scrape(t *testing.T, addr, name string) (float64, bool) {
	t.Helper()
	resp, err := getMetrics("http://" + addr + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// A plan of four stages against the built node: each stage reaches its
// target within 2% (a ramp's last connections may still be opening at its
// end: they are counted, and the holds end with the target open), the
// stages come in order, and the run's totals are their sums, which the
// node's own count of upgrades confirms.
func TestPlanFourStages(t *testing.T) {
	maddr := freeAddr(t)
	node := startBuiltNode(t, "--metrics-addr", maddr)
	checkLeaks(t)
	stages := []bench.Stage{
		{Duration: time.Second, Target: 150, Name: "ramp"},
		{Duration: time.Second, Target: 150, Name: "hold"},
		{Duration: time.Second, Target: 300, Name: "step"},
		{Duration: time.Second, Target: 0, Name: "down"},
	}
	rep := run(t, bench.Config{Scenario: bench.Mixed, URL: "ws://" + node.Addr + "/chat", Drain: time.Second, Stages: stages, ServerPIDs: []int{node.PID},
		Mix: &bench.Mix{Idle: 0.6, Echo: 0.2, Chat: 0.2, EchoRate: 4, ChatRate: 1}})
	if len(rep.Stages) != 4 {
		t.Fatalf("%d stages in the report", len(rep.Stages))
	}
	var opened, closed, cancelled, failed, disconnects int
	var sent, received, expected, lost, latN, connN int64
	for i, s := range rep.Stages {
		want := stages[i]
		if s.Stage != i+1 || s.Name != want.Name || s.Target != want.Target || s.StartSec != float64(i) || s.EndSec != float64(i+1) {
			t.Errorf("stage %d = %d %q target %d, %v-%v s", i+1, s.Stage, s.Name, s.Target, s.StartSec, s.EndSec)
		}
		if d := s.Connected + s.Opening - want.Target; d*50 > want.Target || -d*50 > want.Target {
			t.Errorf("stage %d ended with %d open and %d opening, want %d within 2%%", i+1, s.Connected, s.Opening, want.Target)
		}
		// A hold (and the end, at 0) has every slot it wants connected or
		// on its way: how many are still on their way at its end depends on
		// the machine's load, not on the schedule.
		if hold := i == 1 || i == 3; hold && s.Connected+s.Opening != want.Target {
			t.Errorf("stage %d (%s) ended with %d open and %d opening, want %d", i+1, want.Name, s.Connected, s.Opening, want.Target)
		}
		if s.ServerRSSBytes == 0 || s.Connected > 0 && s.RSSBytesPerConn == 0 {
			t.Errorf("stage %d: the node's RSS at its end %d, per connection %v", i+1, s.ServerRSSBytes, s.RSSBytesPerConn)
		}
		opened, closed, failed, disconnects = opened+s.Opened, closed+s.Closed, failed+s.Failed, disconnects+s.Disconnects
		cancelled += s.Cancelled
		sent, received, expected, lost = sent+s.Sent, received+s.Received, expected+s.Expected, lost+s.Lost
		if s.Latency != nil { // the last stage may send nothing: its users stop a drain before they close
			latN += s.Latency.Count
		}
		if s.ConnectTime != nil {
			connN += s.ConnectTime.Count
		}
	}
	m := rep.Messages
	if opened != rep.Conns.Connected || failed != rep.Conns.Failed || disconnects != rep.Conns.Disconnects || connN != rep.Conns.ConnectTime.Count {
		t.Errorf("stages opened %d failed %d disconnects %d connect times %d; run %+v", opened, failed, disconnects, connN, rep.Conns)
	}
	if sent != m.Sent || received != m.Received || expected != m.Expected || lost != m.Lost || latN != rep.Latency.Count {
		t.Errorf("stages sent %d received %d expected %d lost %d latencies %d; run %+v, latencies %d", sent, received, expected, lost, latN, m, rep.Latency.Count)
	}
	if last := rep.Stages[3].Connected; opened-closed-disconnects != last {
		t.Errorf("opened %d - closed %d - disconnects %d != %d open at the end", opened, closed, disconnects, last)
	}
	// Nothing missing: what the accounting lost (not within the drain) all
	// arrived, late, on a loaded machine.
	if failed != 0 || m.Lost != rep.Mix.LateReceipts || m.Extra != 0 || m.Expected == 0 || rep.Mix.EchoReceived != rep.Mix.EchoSent || rep.Mix.Deliveries == 0 {
		t.Errorf("failed %d, messages %+v, mix %+v: want nothing missing", failed, m, rep.Mix)
	}
	// The node upgraded every user the report counts, and at most the
	// ones the stages closed before their greeting besides.
	if up, ok := scrape(t, maddr, "wsnode_connections_total"); !ok || int(up) < rep.Conns.Connected || int(up) > rep.Conns.Connected+cancelled {
		t.Errorf("the node counted %v upgrades (%v), the report %d opened and %d closed before connected", up, ok, rep.Conns.Connected, cancelled)
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "stage 4 (down)") || !strings.Contains(text.String(), "3-4 s, target 0: 0 open") {
		t.Errorf("text report (%v):\n%s", err, text.String())
	}
}

// tcpConns counts the established connections whose local port is port,
// by remote address, from /proc/net/tcp: what the kernel, the node's
// side, sees.
func tcpConns(t *testing.T, port int) map[string]int {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 4 || f[3] != "01" { // 01: ESTABLISHED
			continue
		}
		local, remote := strings.Split(f[1], ":"), strings.Split(f[2], ":")
		if p, _ := strconv.ParseUint(local[1], 16, 16); int(p) != port {
			continue
		}
		ip, _ := hex.DecodeString(remote[0]) // little-endian IPv4
		out[fmt.Sprintf("%d.%d.%d.%d", ip[3], ip[2], ip[1], ip[0])]++
	}
	return out
}

// --source-addrs binds the connections round robin to local addresses:
// the node's side of the kernel sees each address; the report counts them.
func TestSourceAddrs(t *testing.T) {
	srv := startServer(t, engine.Config{}, hub.Config{})
	checkLeaks(t)
	port := srv.Addr().(*net.TCPAddr).Port
	done := make(chan *bench.Report, 1)
	go func() {
		rep, err := runErr(t, bench.Config{Scenario: bench.Mixed, URL: "ws://" + srv.Addr().String(), SourceAddrs: []string{"127.0.0.2-127.0.0.5"},
			Stages: []bench.Stage{{Duration: 200 * time.Millisecond, Target: 40}, {Duration: 3 * time.Second, Target: 40}}})
		if err != nil {
			t.Error(err)
		}
		done <- rep
	}()
	var seen map[string]int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if seen = tcpConns(t, port); len(seen) == 4 && seen["127.0.0.2"]+seen["127.0.0.3"]+seen["127.0.0.4"]+seen["127.0.0.5"] == 40 {
			break
		}
	}
	for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"} {
		if seen[ip] != 10 {
			t.Errorf("the node sees %v, want 10 connections from each of 127.0.0.2-5", seen)
			break
		}
	}
	rep := <-done
	if rep == nil {
		return
	}
	if len(rep.Sources) != 4 || rep.Sources[0] != (bench.SourceCount{Addr: "127.0.0.2", Connected: 10}) || rep.Sources[3].Addr != "127.0.0.5" {
		t.Errorf("report's sources %+v", rep.Sources)
	}

	// An address that is not this machine's: refused before any dial.
	addr, accepted := benchtest.Counter(t)
	_, err := runErr(t, bench.Config{Scenario: bench.Connect, URL: "ws://" + addr, Conns: 10, SourceAddrs: []string{"127.0.0.2", "192.0.2.7"}})
	if err == nil || !strings.Contains(err.Error(), "source address 192.0.2.7 is not local") {
		t.Fatalf("err = %v, want 192.0.2.7 refused as not local", err)
	}
	if n := accepted(); n != 0 {
		t.Fatalf("%d connections reached the server", n)
	}
}

// The live view: Prometheus metrics while the run goes, a JSON line per
// interval to the file.
func TestLiveView(t *testing.T) {
	url := startNode(t)
	checkLeaks(t)
	maddr := freeAddr(t)
	out := filepath.Join(t.TempDir(), "run.jsonl")
	done := make(chan *bench.Report, 1)
	go func() {
		rep, err := runErr(t, bench.Config{Scenario: bench.Mixed, URL: url, MetricsAddr: maddr, Out: out, OutInterval: 250 * time.Millisecond,
			Mix: &bench.Mix{Echo: 0.5, Chat: 0.5, EchoRate: 20, ChatRate: 2}, Drain: 500 * time.Millisecond,
			Stages: []bench.Stage{{Duration: 500 * time.Millisecond, Target: 20}, {Duration: 2500 * time.Millisecond, Target: 20}}})
		if err != nil {
			t.Error(err)
		}
		done <- rep
	}()
	var open, target float64
	var body string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		open, _ = scrape(t, maddr, "wsbench_connections_open")
		target, _ = scrape(t, maddr, "wsbench_connections_target")
		if open == 20 && target == 20 {
			resp, err := getMetrics("http://" + maddr + "/metrics")
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				body = string(b)
			}
			if strings.Contains(body, `wsbench_latency_seconds_bucket{le="0.1"}`) {
				break
			}
		}
	}
	if open != 20 || target != 20 {
		t.Errorf("metrics: open %v, target %v, want 20 and 20", open, target)
	}
	for _, want := range []string{"wsbench_latency_seconds_count", "wsbench_connect_seconds_count 20", "wsbench_messages_received_total", "wsbench_stage 2"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	rep := <-done
	if rep == nil {
		return
	}
	if _, err := getMetrics("http://" + maddr + "/metrics"); err == nil {
		t.Error("the metrics endpoint outlives the run")
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var snaps []bench.Snapshot
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var s bench.Snapshot
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("line %d: %v", len(snaps)+1, err)
		}
		snaps = append(snaps, s)
	}
	if len(snaps) < 8 {
		t.Fatalf("%d snapshots of a 3.5 s run at 250 ms", len(snaps))
	}
	last := snaps[len(snaps)-1]
	var sum int64
	for _, s := range snaps {
		sum += s.Received
	}
	if last.Connected != 20 || last.ReceivedTotal != sum || last.ReceivedTotal == 0 || last.ReceivedTotal > rep.Messages.Received || last.Stage != 2 {
		t.Errorf("last snapshot %+v (received per snapshot sum %d), report received %d", last, sum, rep.Messages.Received)
	}
}
