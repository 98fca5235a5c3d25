package cluster_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"edgews/engine/enginetest"
	"edgews/hub/cluster"
	"edgews/hub/cluster/clustertest"
)

// A node whose janitor has a long sweep to make (a dead node's names,
// 100 ms of latency to NATS) keeps its liveness key fresh and its view
// current meanwhile: its users keep their names (another node's janitor
// would delete them once the key expired; the sweep used to hold up the
// refresh, and a second "alice" was then accepted elsewhere), and a user
// connecting on another node is seen within a janitor round or two.
func TestJanitorSlowSweep(t *testing.T) {
	ns := clustertest.StartNATS(t)
	p := clustertest.StartProxy(t, ns.URL())
	s := startHealthy(t, cluster.Config{URLs: p.URL(), NodeID: "s", TTL: testTTL, OpTimeout: time.Second})
	connect(t, s, "?name=alice")
	names, nodes := registry(t, ns.URL())
	registered(t, names, "alice", "s lobby alice")

	// A node's names; then the node dies (its liveness key goes): node s
	// sweeps them, each delete a round trip of 100 ms, 10 s for all.
	p.SetLatency(50 * time.Millisecond)
	const dead = 100
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := nodes.Put(ctx, "dead", []byte("alive")); err != nil {
		t.Fatal(err)
	}
	kill := make(chan struct{})
	killed := make(chan struct{})
	go func() { // its liveness, until it dies
		defer close(killed)
		for {
			select {
			case <-kill:
				_ = nodes.Delete(ctx, "dead")
				return
			case <-time.After(testTTL / 8):
				_, _ = nodes.Put(ctx, "dead", []byte("alive"))
			}
		}
	}()
	defer func() {
		select {
		case <-kill:
		default:
			close(kill)
		}
		<-killed
	}()
	for i := range dead {
		if _, err := names.Put(ctx, fmt.Sprintf("ghost%d", i), []byte(fmt.Sprintf("dead lobby ghost%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	enginetest.CheckFor(t, 5*time.Second, func() bool { return s.cl.Users() == dead }, "node s sees the dead node's users")
	close(kill)
	<-killed
	enginetest.CheckFor(t, 5*time.Second, func() bool { return s.cl.Users() == 0 }, "node s's janitor drops them from its view")

	// Node l joins while s sweeps: its janitor frees the names of nodes
	// whose key has expired.
	l := startHealthy(t, cluster.Config{URLs: ns.URL(), NodeID: "l", TTL: testTTL, OpTimeout: time.Second})
	connect(t, l, "?name=bob")
	seen := time.Now()
	enginetest.CheckFor(t, 2*time.Second, func() bool { _, _, ok := s.cl.Lookup("bob"); return ok }, "node s sees bob while it sweeps")
	t.Logf("bob seen on node s after %v", time.Since(seen).Round(time.Millisecond))
	// Well past a liveness key's lifetime (3/4 TTL), s is still alive
	// and alice still its.
	for end := time.Now().Add(testTTL + testTTL/4); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if got := entry(names, "alice"); got != "s lobby alice" {
			t.Fatalf("alice's entry %q while node s is alive (its liveness key: %q)", got, entry(nodes, "s"))
		}
	}
	connect(t, l, "?name=alice").expectPrefix(t, `error: name "alice" is taken; you are user`)
}

// A janitor on a slow link to a NATS with many live nodes frees no live
// node's names. It used to list the liveness keys with nats.go's Keys,
// which returns what it got when its context ends, with no error, and
// took that for the whole list, deleting the names of live nodes missing
// from it; it now reads the keys of the nodes it sees names of, one by
// one, and takes a node for gone only when its key is not found.
func TestJanitorPartialListing(t *testing.T) {
	ns := clustertest.StartNATS(t)
	const ttl = 4 * time.Second // the ghosts' keys live 3 s
	l := startHealthy(t, cluster.Config{URLs: ns.URL(), NodeID: "l", TTL: ttl, OpTimeout: time.Second})
	connect(t, l, "?name=alice")
	names, nodes := registry(t, ns.URL())
	registered(t, names, "alice", "l lobby alice")

	// Many live nodes (as far as their keys go), and then l's next
	// refresh: l's key comes after theirs in a listing.
	js := jsClient(t, ns.URL())
	const ghosts = 2000
	for i := range ghosts {
		if _, err := js.PublishAsync(fmt.Sprintf("$KV.%s_nodes.ghost%d", cluster.DefaultName, i), []byte("alive")); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(5 * time.Second):
		t.Fatal("ghost keys not written")
	}
	last, err := nodes.Get(context.Background(), fmt.Sprintf("ghost%d", ghosts-1))
	if err != nil {
		t.Fatal(err)
	}
	enginetest.CheckFor(t, ttl, func() bool {
		e, err := nodes.Get(context.Background(), "l")
		return err == nil && e.Revision() > last.Revision()
	}, "node l's key refreshed after the ghosts'")

	// Node s's link to NATS carries 128 KiB/s: listing the keys takes
	// some 3 s, its op timeout is 300 ms.
	p := clustertest.StartProxy(t, ns.URL())
	s := startHealthy(t, cluster.Config{URLs: p.URL(), NodeID: "s", TTL: ttl, OpTimeout: 300 * time.Millisecond})
	enginetest.CheckFor(t, 5*time.Second, func() bool { _, _, ok := s.cl.Lookup("alice"); return ok }, "node s sees alice")
	p.SetRate(128 << 10)
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if got := entry(names, "alice"); got != "l lobby alice" {
			t.Fatalf("alice's entry %q: deleted on a partial listing of the live nodes", got)
		}
	}
}

// A live node whose users' entries leave the registry (deleted by a
// janitor that took it for gone) writes them again; one taken over by
// another node meanwhile has its holder here renamed, told why, as after
// an outage: no name ever has two holders.
func TestOwnNamesRestored(t *testing.T) {
	ns, nodes := startCluster(t, 2)
	a := nodes[0]
	alice := connect(t, a, "?name=alice")
	zed := connect(t, a, "?name=zed")
	names, _ := registry(t, ns.URL())
	registered(t, names, "alice", "n0 lobby alice")
	registered(t, names, "zed", "n0 lobby zed")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := names.Delete(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	registered(t, names, "alice", "n0 lobby alice") // written again

	// zed's entry taken over for node n1 (alive), as a claim there does
	// when it finds the holder's node gone.
	e, err := names.Get(ctx, "zed")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := names.Update(ctx, "zed", []byte("n1 lobby zed"), e.Revision()); err != nil {
		t.Fatal(err)
	}
	line := zed.expectPrefix(t, `error: name "zed" was taken on another node`)
	newName := line[strings.LastIndex(line, " ")+1:]
	zed.expect(t, "*** zed is now known as "+newName)
	alice.expect(t, "*** zed is now known as "+newName)
	if got := entry(names, "zed"); got != "n1 lobby zed" {
		t.Fatalf("zed's entry %q, want node n1's", got)
	}
	registered(t, names, strings.ToLower(newName), "n0 lobby "+newName)
}
