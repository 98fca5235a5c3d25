package compare

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"edgews/bench"
)

func TestMarkdownCluster(t *testing.T) {
	rep := func(perSec, loss, p99us, cpuPerM, rssPerConn float64) *bench.Report {
		return &bench.Report{
			Messages: &bench.MessageReport{PerSec: perSec, LossPct: loss},
			Latency:  &bench.Latency{P99Us: p99us},
			Servers:  []bench.ServerReport{{PID: 1, CPUSecPerMillion: cpuPerM, RSSBytesPerConn: rssPerConn}},
			Conns:    bench.ConnReport{Connected: 10},
		}
	}
	r := &ClusterResult{Config: ClusterConfig{Nodes: 3, Conns: 6000, Senders: 20, Rate: 20, Duration: 10 * time.Second,
		LightConns: 300, LightSenders: 10, LightRate: 10, IdleLo: 4000, IdleConns: 14000},
		Single: rep(120000, 0, 20000, 10, 0), Cluster: rep(120000, 0, 30000, 12, 0),
		LightSingle: rep(3000, 0, 2000, 0, 0), LightCluster: rep(3000, 0, 4500, 0, 0),
		IdleWithout: rep(0, 0, 0, 0, 2600), IdleWithNATS: rep(0, 0, 0, 0, 2650),
		IdleLoWithout: rep(0, 0, 0, 0, 0), IdleLoWithNATS: rep(0, 0, 0, 0, 0),
		Errs: []error{errors.New("compare: something")}}
	// 10,000 users more: 10 MB and 11 MB more RSS.
	r.IdleWithout.Conns.Connected, r.IdleWithNATS.Conns.Connected = 14000, 14000
	r.IdleLoWithout.Conns.Connected, r.IdleLoWithNATS.Conns.Connected = 4000, 4000
	r.IdleLoWithout.Servers[0].RSSAfterBytes, r.IdleWithout.Servers[0].RSSAfterBytes = 20e6, 30e6
	r.IdleLoWithNATS.Servers[0].RSSAfterBytes, r.IdleWithNATS.Servers[0].RSSAfterBytes = 25e6, 36e6
	off, _ := idleSlope(r.IdleLoWithout, r.IdleWithout)
	on, _ := idleSlope(r.IdleLoWithNATS, r.IdleWithNATS)
	r.IdleSlopes = [][2]float64{{off, on}} // one repeat, as Cluster records it
	r.Cluster.Nodes = []bench.NodeCounts{{OpenAtStart: 2000}, {OpenAtStart: 2000}, {OpenAtStart: 2000}}
	var b bytes.Buffer
	MarkdownCluster(&b, r)
	out := b.String()
	for _, want := range []string{
		"| figure | one node | NATS + 3 nodes | cluster/single | cluster − single |",
		"| deliveries/s | 120000 | 120000 | 1.00 | - |",
		"| server CPU s per 1M deliveries (all nodes + NATS) (lower is better) | 10.00 s | 12.00 s | 1.20 | - |",
		"| light load: p99 delivery latency (lower is better) | 2.00 ms | 4.50 ms | 2.25 | 2.50 ms |",
		"| idle /chat user: node RSS per connection at the larger size, fixed costs included (--nats off / on) (lower is better) | 2600 B | 2650 B | 1.02 | 50 B |",
		"| idle /chat user: node RSS per connection, slope from 4000 to 14000 users (--nats off / on) (lower is better) | 1000 B | 1100 B | 1.10 | 100 B |",
		"Cluster users per node: 2000 / 2000 / 2000",
		"failed: compare: something",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks\n%s\ngot\n%s", want, out)
		}
	}

	// Repeated idle runs: the medians, and the median of the paired
	// differences (50 here, not 850 − 810 = 40).
	r.IdleSlopes = [][2]float64{{800, 850}, {820, 900}, {810, 840}}
	b.Reset()
	MarkdownCluster(&b, r)
	out = b.String()
	for _, want := range []string{
		"| idle /chat user: node RSS per connection, slope from 4000 to 14000 users (--nats off / on), medians of 3 runs (difference: median of the paired differences) (lower is better) | 810 B | 850 B | 1.05 | 50 B |",
		"Idle slopes, each run (--nats off / on): 800 B / 850 B, 820 B / 900 B, 810 B / 840 B.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks\n%s\ngot\n%s", want, out)
		}
	}
}

// End to end, small: the node, wsbench and nats-server built from the
// pinned module; one node, then NATS + 3 nodes; every run lossless, the
// cluster's users spread over its nodes, CPU summed over nodes and NATS.
func TestClusterEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, pkg := range []string{"edgews/cmd/wsnode", "edgews/cmd/wsbench", "github.com/nats-io/nats-server/v2"} {
		out, err := exec.Command("go", "build", "-o", dir+"/", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Cluster(ctx, ClusterConfig{Bin: dir, Conns: 60, Senders: 3, Rate: 6, Duration: time.Second, Drain: 500 * time.Millisecond,
		LightConns: 30, LightSenders: 3, LightRate: 3, IdleLo: 50, IdleConns: 100, IdleHold: 300 * time.Millisecond, IdleRepeat: 2, Log: &log})
	if err != nil {
		t.Fatalf("%v\nlog:\n%s", err, log.String())
	}
	if len(res.Errs) > 0 {
		t.Fatalf("runs failed: %v", res.Errs)
	}
	for name, rep := range map[string]*bench.Report{"single": res.Single, "cluster": res.Cluster, "light single": res.LightSingle, "light cluster": res.LightCluster} {
		if m := rep.Messages; m == nil || m.Received == 0 || m.Received != m.Expected || m.Lost != 0 {
			t.Errorf("%s: messages %+v, want every delivery", name, rep.Messages)
		}
	}
	if n := len(res.Cluster.Nodes); n != 3 || res.Cluster.Nodes[2].OpenAtStart != 20 {
		t.Errorf("cluster nodes %+v, want 20 users on each of 3", res.Cluster.Nodes)
	}
	// Servers: 3 nodes, nats-server, and their sum. nats-server is measured
	// (its RSS read, no error) but may use no CPU tick in a 1 s run.
	if s := res.Cluster.Servers; len(s) != 5 || s[4].PID != 0 || s[3].PID == 0 || s[3].Error != "" || s[3].RSSAfterBytes <= 0 ||
		s[4].CPUSecPerMillion <= 0 || s[4].CPUSeconds < s[3].CPUSeconds {
		t.Errorf("cluster servers %+v, want 3 nodes + NATS measured and summed", s)
	}
	for i, rep := range []*bench.Report{res.IdleLoWithout, res.IdleWithout, res.IdleLoWithNATS, res.IdleWithNATS} {
		if want := []int{50, 100}[i%2]; rep == nil || rep.Conns.Connected != want || !strings.HasSuffix(rep.URL, "/chat") {
			t.Errorf("idle run %d: %+v, want %d connected on /chat", i, rep, want)
		}
	}
	if len(res.IdleSlopes) != 2 {
		t.Errorf("idle slopes %v, want one pair per repeat", res.IdleSlopes)
	}
	var b bytes.Buffer
	MarkdownCluster(&b, res)
	if strings.Count(b.String(), "\n| ") != 10 || strings.Contains(b.String(), "failed") {
		t.Errorf("table:\n%s", b.String())
	}
}
