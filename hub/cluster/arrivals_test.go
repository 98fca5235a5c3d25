package cluster_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"edgews/engine"
	"edgews/engine/enginetest"
	"edgews/hub"
	"edgews/hub/cluster"
	"edgews/hub/cluster/clustertest"
)

// blockTask holds an event loop until release is closed: a loop that has
// fallen behind.
type blockTask struct{ started, release chan struct{} }

func (b blockTask) Run(*engine.Loop) { close(b.started); <-b.release }
func (b blockTask) Done()            {}

// block holds l until the returned function is called (or the test ends).
func block(t *testing.T, l *engine.Loop) (unblock func()) {
	t.Helper()
	b := blockTask{started: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	unblock = func() { once.Do(func() { close(b.release) }) }
	t.Cleanup(unblock)
	if err := l.Post(b); err != nil {
		t.Fatal(err)
	}
	<-b.started
	return unblock
}

// Messages from other nodes reach a node whose event loop is behind (here:
// held): past hub.Config.ClusterBacklog tasks waiting for the loop, they
// are dropped and counted (wsnode_cluster_messages_dropped_in_total), not
// queued without bound; each one is either delivered or counted.
func TestArrivalsDroppedWhenLoopBehind(t *testing.T) {
	ns := clustertest.StartNATS(t)
	a := startNode(t, ns.URL(), "a")
	const backlog = 16
	b := startNodeLoops(t, cluster.Config{URLs: ns.URL(), NodeID: "b", TTL: testTTL, OpTimeout: time.Second}, hub.Config{Shards: 4, ClusterBacklog: backlog}, 1)
	for _, n := range []*node{a, b} {
		enginetest.CheckFor(t, 10*time.Second, n.cl.Healthy, n.cl.ID()+" healthy")
	}
	talker := dial(t, a, "?name=talker")
	talker.expectPrefix(t, "You are connected!")
	reader := dial(t, b, "?name=reader")
	reader.expectPrefix(t, "You are connected!")
	waitSubscribed(t, []*node{a, b}, "lobby")

	unblock := block(t, b.srv.Loops()[0])
	st := b.cl.Stats()
	in := st.MsgsIn.Load()
	const sent = 100
	for i := range sent {
		talker.send(t, fmt.Sprintf("m%d", i))
	}
	enginetest.CheckFor(t, 5*time.Second, func() bool { return st.MsgsIn.Load() >= in+sent }, "the messages reached node b")
	dropped := st.InDropped.Load()
	if dropped < sent-backlog {
		t.Fatalf("%d of %d arrivals dropped for a loop held with a backlog of %d", dropped, sent, backlog)
	}
	unblock()
	got := 0
	for {
		select {
		case l := <-reader.in:
			if !strings.HasPrefix(l, "[talker]: m") {
				t.Fatalf("reader got %q", l)
			}
			got++
			continue
		case <-time.After(500 * time.Millisecond):
		}
		break
	}
	if got > backlog || int64(got)+dropped != sent {
		t.Fatalf("delivered %d, dropped %d, sent %d (backlog %d)", got, dropped, sent, backlog)
	}
}
