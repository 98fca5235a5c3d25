package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edgews/engine/enginetest"
	"edgews/hub/cluster"
	"edgews/hub/cluster/clustertest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS restarted during traffic (same port and store): the nodes
// reconnect and resubscribe by themselves, chat across nodes resumes, and
// nothing is delivered twice (what was in flight may be lost: core NATS
// is at most once).
func TestNATSRestartDuringTraffic(t *testing.T) {
	ns, nodes := startCluster(t, 3)
	var cls []*client
	for i, n := range nodes {
		cl := dial(t, n, fmt.Sprintf("?name=r%d", i))
		cl.expectPrefix(t, "You are connected!")
		cls = append(cls, cl)
	}
	waitSubscribed(t, nodes, "lobby")
	waitUsers(t, nodes, 3)

	var stop atomic.Bool
	var wg sync.WaitGroup
	for i, cl := range cls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; !stop.Load(); k++ {
				if cl.c.WriteMessage(1, []byte(fmt.Sprintf("t%d-%d", i, k))) != nil {
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond) // traffic before the restart
	ns.Restart(t)
	for _, n := range nodes {
		enginetest.CheckFor(t, 10*time.Second, n.cl.Healthy, n.cl.ID()+" healthy again")
	}
	time.Sleep(100 * time.Millisecond) // traffic after it
	stop.Store(true)
	wg.Wait()
	// Chat across nodes works again: a marker from each node reaches all.
	enginetest.CheckFor(t, 5*time.Second, func() bool { return nodes[0].cl.Stats().Reconnects.Load() > 0 }, "a reconnect counted")
	for i, cl := range cls {
		cl.send(t, fmt.Sprintf("after%d", i))
	}
	for ci, cl := range cls {
		last := make([]int, len(cls)) // last number seen per sender
		for i := range last {
			last[i] = -1
		}
		after := 0
		for after < len(cls) {
			line := cl.next(t)
			if strings.Contains(line, "]: after") {
				after++
				continue
			}
			var from, k int
			if _, err := fmt.Sscanf(line[strings.Index(line, "]: ")+3:], "t%d-%d", &from, &k); err != nil {
				t.Fatalf("client %d: unexpected %q", ci, line)
			}
			if k <= last[from] {
				t.Fatalf("client %d: t%d-%d after t%d-%d: delivered twice or out of order", ci, from, k, from, last[from])
			}
			last[from] = k
		}
		// Its own messages all came back (local delivery never stops).
		if last[ci] < 0 {
			t.Fatalf("client %d saw none of its own messages", ci)
		}
	}
	var lost int64
	for _, n := range nodes {
		lost += n.cl.Stats().PubDropped.Load()
	}
	t.Logf("publishes dropped during the outage: %d", lost)
}

// What changes on a node while NATS is away reaches the registry once it
// is back: a move, a disconnect and a connect. And a NATS that comes back
// without its store gets the names of the users still connected written
// again, from the hub's members (the registry keeps no copy of them).
func TestRegistryResync(t *testing.T) {
	ns, nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	alice := dial(t, a, "?name=Alice")
	alice.expectPrefix(t, "You are connected!")
	bob := dial(t, a, "?name=bob")
	bob.expectPrefix(t, "You are connected!")
	waitUsers(t, nodes, 2)
	seen := func(name string) bool { _, _, ok := b.cl.Lookup(name); return ok }
	inRoom := func(room, name string) func() bool {
		return func() bool {
			names, _ := b.cl.Roster(room, nil)
			for _, n := range names {
				if n == name {
					return true
				}
			}
			return false
		}
	}

	// NATS restarted with its store: Alice moves and Bob leaves meanwhile.
	ns.Shutdown()
	enginetest.CheckFor(t, 5*time.Second, func() bool { return !a.cl.Healthy() }, "node a sees the outage")
	alice.send(t, "/join attic")
	alice.expectPrefix(t, "*** Alice joined attic")
	bob.c.Close()
	enginetest.CheckFor(t, 5*time.Second, func() bool { return a.hub.Users() == 1 }, "Bob gone from node a")
	ns.Restart(t)
	for _, n := range nodes {
		enginetest.CheckFor(t, 10*time.Second, n.cl.Healthy, n.cl.ID()+" healthy again")
	}
	enginetest.CheckFor(t, 5*time.Second, func() bool { return !seen("bob") }, "Bob's name freed in the registry")
	enginetest.CheckFor(t, 5*time.Second, inRoom("attic", "Alice"), "Alice in the attic on node b's roster")

	// NATS back without its store: Carol connects meanwhile.
	ns.Shutdown()
	enginetest.CheckFor(t, 5*time.Second, func() bool { return !a.cl.Healthy() }, "node a sees the second outage")
	carol := dial(t, a, "?name=carol")
	carol.expectPrefix(t, "You are connected!")
	ns.RestartEmpty(t)
	for _, n := range nodes {
		enginetest.CheckFor(t, 10*time.Second, n.cl.Healthy, n.cl.ID()+" healthy again")
	}
	enginetest.CheckFor(t, 5*time.Second, inRoom("attic", "Alice"), "Alice written again, in the attic")
	enginetest.CheckFor(t, 5*time.Second, func() bool { return seen("carol") }, "Carol written")
	waitUsers(t, nodes, 2)
	// The registry holds them for node a again: b refuses the names.
	x := dial(t, b, "?name=alice")
	x.expect(t, "You are connected! There are 3 users here.")
	x.expectPrefix(t, `error: name "alice" is taken; you are user`)
	if n := a.cl.Stats().Conflicts.Load(); n != 0 {
		t.Fatalf("conflicts = %d, want 0", n)
	}
}

// What fails while the node is connected and healthy (JetStream off, as
// when it is overloaded) is written once the registry answers again,
// within a quarter of the TTL and without waiting for a reconnection: a
// move and a disconnect.
func TestRegistryRetriesWhileUp(t *testing.T) {
	ns := clustertest.StartNATS(t)
	a := startNodeWith(t, cluster.Config{URLs: ns.URL(), NodeID: "up", TTL: testTTL, OpTimeout: 100 * time.Millisecond})
	enginetest.CheckFor(t, 10*time.Second, a.cl.Healthy, "node healthy")
	tess := dial(t, a, "?name=tess")
	tess.expectPrefix(t, "You are connected!")
	ned := dial(t, a, "?name=ned")
	ned.expectPrefix(t, "You are connected!")

	// The registry itself, read with a client of the test's own.
	nc, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, cluster.DefaultName+"_names")
	if err != nil {
		t.Fatal(err)
	}
	entry := func(key string) string {
		e, err := kv.Get(ctx, key)
		if err != nil {
			return ""
		}
		return string(e.Value())
	}
	enginetest.CheckFor(t, 5*time.Second, func() bool { return entry("tess") == "up lobby tess" && entry("ned") == "up lobby ned" }, "both names registered")

	reconnects, errs := a.cl.Stats().Reconnects.Load(), a.cl.Stats().RegistryErrors.Load()
	ns.DisableJetStream(t)
	tess.send(t, "/join attic")
	tess.expectPrefix(t, "*** tess joined attic")
	ned.c.Close()
	enginetest.CheckFor(t, 5*time.Second, func() bool { return a.hub.Users() == 1 }, "ned gone from the node")
	// Both calls have failed (the move's read, the release's read).
	enginetest.CheckFor(t, 5*time.Second, func() bool { return a.cl.Stats().RegistryErrors.Load() >= errs+2 }, "the registry calls failed")
	ns.EnableJetStream(t)
	enginetest.CheckFor(t, 5*time.Second, func() bool { return entry("tess") == "up attic tess" }, "the move written")
	enginetest.CheckFor(t, 5*time.Second, func() bool { _, err := kv.Get(ctx, "ned"); return errors.Is(err, jetstream.ErrKeyNotFound) }, "ned's name freed")
	if n := a.cl.Stats().Reconnects.Load(); n != reconnects {
		t.Fatalf("the node reconnected (%d times): the resync wrote them, not the retry", n-reconnects)
	}
}
