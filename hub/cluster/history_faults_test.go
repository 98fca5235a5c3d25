package cluster_test

import (
	"testing"
	"time"

	"edgews/engine/enginetest"
	"edgews/hub"
	"edgews/hub/cluster"
	"edgews/hub/cluster/clustertest"
)

// NATS silent when the shared history's consumer is created: the node
// retries until it exists, says meanwhile that it has none (Consuming,
// ConsumerRetries: /healthz and a metric), and then delivers what is
// stored, its own users' messages included. It used to try once: stored,
// never delivered, no counter moving.
func TestHistoryConsumerRetried(t *testing.T) {
	ns := clustertest.StartNATS(t)
	p := clustertest.StartProxy(t, ns.URL())
	n := startHistoryNodeWith(t, cluster.Config{URLs: p.URL(), NodeID: "h", TTL: testTTL, OpTimeout: 300 * time.Millisecond}, p.Stall)
	hs, cl := n.hist, n.cl
	enginetest.CheckFor(t, 5*time.Second, func() bool { return hs.Stats().ConsumerRetries.Load() >= 2 }, "consumer creation retried")
	if hs.Consuming() {
		t.Fatal("Consuming while NATS is silent")
	}
	p.Resume()
	enginetest.CheckFor(t, 10*time.Second, hs.Consuming, "consumer created once NATS answers")
	enginetest.CheckFor(t, 10*time.Second, cl.Healthy, "node healthy")
	talker := dial(t, n, "?name=talker", hub.ProtocolJSON)
	talker.nextOf(t, "history")
	talker.send(t, `{"type":"message","text":"hello"}`)
	if ev := talker.nextOf(t, "message"); ev.Text != "hello" || ev.Offset != 1 {
		t.Fatalf("got %+v, want hello at offset 1", ev)
	}
}

// A node keeping its own history in a cluster whose history is shared
// (not started with it, or it fell back to its own): its chat messages,
// which reach the shared nodes over core NATS, are dropped there and
// counted. They used to go into the shared node's mirror with offsets it
// made up: two different messages at one offset, a history that then
// collapsed.
func TestHistoryNotMixed(t *testing.T) {
	ns := clustertest.StartNATS(t).URL()
	a := startHistoryNode(t, ns, "a")
	b := startNode(t, ns, "b") // its own history
	enginetest.CheckFor(t, 10*time.Second, b.cl.Healthy, "node b healthy")
	watch := dial(t, a, "?name=watch", hub.ProtocolJSON)
	watch.nextOf(t, "history")
	ta := dial(t, a, "?name=ta")
	ta.expectPrefix(t, "You are connected!")
	tb := dial(t, b, "?name=tb")
	tb.expectPrefix(t, "You are connected!")
	waitSubscribed(t, []*node{a, b}, "lobby")

	ta.send(t, "one")
	if ev := watch.nextOf(t, "message"); ev.Text != "one" || ev.Offset != 1 {
		t.Fatalf("got %+v, want one at offset 1", ev)
	}
	in := a.cl.Stats().MsgsIn.Load()
	tb.send(t, "stray")
	enginetest.CheckFor(t, 5*time.Second, func() bool { return a.cl.Stats().MsgsIn.Load() > in }, "node b's message reached node a")
	ta.send(t, "two")
	if ev := watch.nextOf(t, "message"); ev.Text != "two" || ev.Offset != 2 {
		t.Fatalf("got %+v, want two at offset 2 (a message of a node with its own history went into the shared one)", ev)
	}
	if n := a.hub.Stats().HistoryUnshared.Load(); n != 1 {
		t.Fatalf("HistoryUnshared = %d, want 1", n)
	}
	h := dial(t, a, "", hub.ProtocolJSON).nextOf(t, "history")
	if got := described(h.Messages); len(got) != 2 || got[0] != "1:ta:one" || got[1] != "2:ta:two" {
		t.Fatalf("node a's history: %v", got)
	}
}
