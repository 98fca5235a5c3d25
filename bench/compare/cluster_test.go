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
		LightConns: 300, LightSenders: 10, LightRate: 10, IdleConns: 10000},
		Single: rep(120000, 0, 20000, 10, 0), Cluster: rep(120000, 0, 30000, 12, 0),
		LightSingle: rep(3000, 0, 2000, 0, 0), LightCluster: rep(3000, 0, 4500, 0, 0),
		IdleWithout: rep(0, 0, 0, 0, 2600), IdleWithNATS: rep(0, 0, 0, 0, 2650),
		Errs: []error{errors.New("compare: something")}}
	r.Cluster.Nodes = []bench.NodeCounts{{OpenAtStart: 2000}, {OpenAtStart: 2000}, {OpenAtStart: 2000}}
	var b bytes.Buffer
	MarkdownCluster(&b, r)
	out := b.String()
	for _, want := range []string{
		"| figure | one node | NATS + 3 nodes | cluster/single | cluster − single |",
		"| deliveries/s | 120000 | 120000 | 1.00 | - |",
		"| server CPU s per 1M deliveries (all nodes + NATS) (lower is better) | 10.00 s | 12.00 s | 1.20 | - |",
		"| light load: p99 delivery latency (lower is better) | 2.00 ms | 4.50 ms | 2.25 | 2.50 ms |",
		"| idle /chat user: node RSS per connection (--nats off / on) (lower is better) | 2600 B | 2650 B | 1.02 | 50 B |",
		"Cluster users per node: 2000 / 2000 / 2000",
		"failed: compare: something",
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
	res, err := Cluster(ctx, ClusterConfig{Bin: dir, Conns: 60, Senders: 3, Rate: 6, Duration: time.Second,
		LightConns: 30, LightSenders: 3, LightRate: 3, IdleConns: 100, IdleHold: 300 * time.Millisecond, Log: &log})
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
	// Servers: 3 nodes, nats-server, and their sum.
	if s := res.Cluster.Servers; len(s) != 5 || s[4].PID != 0 || s[3].CPUSeconds <= 0 || s[4].CPUSecPerMillion <= 0 {
		t.Errorf("cluster servers %+v, want 3 nodes + NATS measured and summed", s)
	}
	for _, rep := range []*bench.Report{res.IdleWithout, res.IdleWithNATS} {
		if rep.Conns.Connected != 100 || !strings.HasSuffix(rep.URL, "/chat") {
			t.Errorf("idle: %d connected to %s, want 100 on /chat", rep.Conns.Connected, rep.URL)
		}
	}
	var b bytes.Buffer
	MarkdownCluster(&b, res)
	if strings.Count(b.String(), "\n| ") != 8 || strings.Contains(b.String(), "failed") {
		t.Errorf("table:\n%s", b.String())
	}
}
