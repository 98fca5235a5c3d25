package cluster_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edgews/engine/enginetest"
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

// Two nodes cut off from NATS both grant one name; once NATS is back, the
// registry keeps it for one of them and the other node renames its
// holder, saying why: names are unique cluster-wide again.
func TestOutageNameConflict(t *testing.T) {
	ns, nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	ns.Shutdown()
	for _, n := range nodes {
		enginetest.CheckFor(t, 5*time.Second, func() bool { return !n.cl.Healthy() }, n.cl.ID()+" sees the outage")
	}
	za := dial(t, a, "?name=zed")
	za.expectPrefix(t, "You are connected!")
	zb := dial(t, b, "?name=ZED")
	zb.expectPrefix(t, "You are connected!")
	ns.Restart(t)
	for _, n := range nodes {
		enginetest.CheckFor(t, 10*time.Second, n.cl.Healthy, n.cl.ID()+" healthy again")
	}
	// The registry gives the name to one node; the other node's holder is
	// renamed: told why, then its rename.
	var keeperID string
	enginetest.CheckFor(t, 10*time.Second, func() bool {
		onB, _, aSees := a.cl.Lookup("zed") // a's view holds the other nodes' names
		onA, _, bSees := b.cl.Lookup("zed")
		switch {
		case aSees && onB == b.cl.ID() && !bSees:
			keeperID = onB
		case bSees && onA == a.cl.ID() && !aSees:
			keeperID = onA
		}
		return keeperID != ""
	}, "the registry gives zed to one node")
	renamed, renamedOn, kept, keptOn := za, a, zb, b
	if keeperID == a.cl.ID() {
		renamed, renamedOn, kept, keptOn = zb, b, za, a
	}
	line := renamed.next(t)
	if !strings.HasPrefix(line, `error: name "`) || !strings.Contains(line, "was taken on another node while this one was cut off from the cluster; you are user") {
		t.Fatalf("renamed holder got %q", line)
	}
	newName := line[strings.LastIndex(line, " ")+1:]
	old := "zed"
	if renamed == zb {
		old = "ZED"
	}
	renamed.expect(t, "*** "+old+" is now known as "+newName)
	kept.expect(t, "*** "+old+" is now known as "+newName) // the same room, on the other node
	kept.quiet(t)
	// The registry and both nodes agree: the name is the keeper's node's,
	// and the renamed user is seen under its new name.
	enginetest.CheckFor(t, 5*time.Second, func() bool {
		node, _, ok := renamedOn.cl.Lookup("zed")
		_, _, seen := keptOn.cl.Lookup(newName)
		return ok && node == keptOn.cl.ID() && seen
	}, "zed held by the keeper's node, "+newName+" seen on it")
	kept.send(t, "/w "+newName+" hi")
	renamed.expectPrefix(t, "[")
	var conflicts int64
	for _, n := range nodes {
		conflicts += n.cl.Stats().Conflicts.Load()
	}
	if conflicts != 1 {
		t.Fatalf("conflicts = %d, want 1", conflicts)
	}
}
