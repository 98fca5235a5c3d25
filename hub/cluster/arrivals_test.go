package cluster_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
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

// raceCluster is a real cluster.Node with one hook: the first time
// WhenSubscribed confirms room for an arrival while armed, leave runs
// before it returns. It makes certain the interleaving of a welcome with
// the departure of the room's last member here, which otherwise takes a
// few microseconds' luck.
type raceCluster struct {
	*cluster.Node
	room  string
	armed atomic.Bool
	leave func()
}

func (c *raceCluster) WhenSubscribed(room string, w hub.Waiter) bool {
	ok := c.Node.WhenSubscribed(room, w)
	if ok && room == c.room && c.armed.CompareAndSwap(true, false) {
		c.leave()
	}
	return ok
}

// waitUntil polls cond for up to d; it is for goroutines that must not
// fail the test (CheckFor's Fatal is for the test's own).
func waitUntil(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// A member arrives in a room whose subscription is confirmed, and the
// room's last member here leaves before the arrival's welcome: the room
// stays subscribed for the arriving member, and a message sent from
// another node right after the welcome reaches it. The node used to
// unsubscribe, subscribe again for the arrival and welcome it before the
// new SUB reached NATS (100 ms of latency here): the message was lost.
func TestWelcomeRacesLastLeave(t *testing.T) {
	ns := clustertest.StartNATS(t)
	a := startNode(t, ns.URL(), "a")
	p := clustertest.StartProxy(t, ns.URL())
	cl, err := cluster.New(cluster.Config{URLs: p.URL(), NodeID: "b", TTL: testTTL, OpTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rc := &raceCluster{Node: cl, room: "r"}
	b := startNodeOf(t, cl, hub.Config{Shards: 4, Cluster: rc}, 2, nil)
	for _, n := range []*node{a, b} {
		enginetest.CheckFor(t, 10*time.Second, n.cl.Healthy, n.cl.ID()+" healthy")
	}
	x := dial(t, b, "?name=x&room=r") // loop 0 (gnet deals connections round robin)
	x.expectPrefix(t, "You are connected!")
	s := dial(t, a, "?name=s&room=r")
	s.expectPrefix(t, "You are connected!")
	waitSubscribed(t, []*node{a, b}, "r")
	p.SetLatency(50 * time.Millisecond)
	rc.leave = func() { // on y's loop (1)
		x.c.Close()
		waitUntil(2*time.Second, func() bool { return b.hub.Rooms() == 0 })
		waitUntil(time.Second, func() bool { return !cl.Subscribed("r") }) // an unsubscribe, if any, has reached NATS
	}
	rc.armed.Store(true)
	y := dial(t, b, "?name=y&room=r")
	y.expectPrefix(t, "You are connected!")
	if rc.armed.Load() {
		t.Fatal("the hook did not run")
	}
	s.send(t, "hello")
	y.expect(t, "[s]: hello")
}
