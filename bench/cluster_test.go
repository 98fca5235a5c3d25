package bench_test

import (
	"context"
	"testing"
	"time"

	"edgews/bench"
	"edgews/engine"
	"edgews/engine/enginetest"
	"edgews/hub"
	"edgews/hub/cluster"
	"edgews/hub/cluster/clustertest"
)

// A broadcast spread over three clustered nodes (--url a,b,c) measures the
// cluster as a whole: every user on every node gets every message, none
// lost, none extra.
func TestBroadcastOverCluster(t *testing.T) {
	urls, nodes := startClusterNodes(t, "a", "b", "c")
	rep := run(t, bench.Config{Scenario: bench.Broadcast, URLs: urls, Conns: 30, Senders: 6, Rate: 60, Duration: 1500 * time.Millisecond})
	m := rep.Messages
	if rep.Conns.OpenAtStart != 30 {
		t.Fatalf("open at start = %d, want 30", rep.Conns.OpenAtStart)
	}
	if m.Sent < 30 || m.Expected != m.Sent*30 || m.Received != m.Expected || m.Lost != 0 || m.Extra != 0 {
		t.Fatalf("messages = %+v, want expected = received = sent x 30", m)
	}
	for _, n := range nodes {
		if n.Stats().MsgsIn.Load() == 0 {
			t.Errorf("node %s received nothing from the others: the users were not spread", n.ID())
		}
	}
}

// startClusterNodes runs one in-process node per id, clustered through a
// nats-server in this process, until the test ends; it returns their
// ws:// URLs and cluster nodes once each is healthy.
func startClusterNodes(t *testing.T, ids ...string) ([]string, []*cluster.Node) {
	t.Helper()
	ns := clustertest.StartNATS(t)
	var urls []string
	var nodes []*cluster.Node
	for _, id := range ids {
		cl, err := cluster.New(cluster.Config{URLs: ns.URL(), NodeID: id})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = cl.Close(ctx)
		})
		srv := engine.New(engine.Config{Addr: "127.0.0.1:0", Loops: 2})
		hub.New(srv, hub.Config{Cluster: cl})
		enginetest.Start(t, srv)
		enginetest.CheckFor(t, 10*time.Second, cl.Healthy, "node "+id+" healthy")
		urls = append(urls, "ws://"+srv.Addr().String())
		nodes = append(nodes, cl)
	}
	return urls, nodes
}
