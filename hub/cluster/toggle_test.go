//go:build !race

package cluster_test

// Tests that turn JetStream off and on again in the running nats-server
// (clustertest.NATS.DisableJetStream, EnableJetStream) while the nodes call
// it. nats-server v2.15.2's EnableJetStream writes its API export state
// while its API dispatch reads it (setJetStreamExportSubs against
// apiDispatch), which the race detector reports in nats-server's own code.
// They run without -race, in make test's second pass (-run
// 'Alloc|JetStreamToggle'); every other cluster test runs with it.

import (
	"strings"
	"testing"
	"time"

	"edgews/engine/enginetest"
	"edgews/hub"
	"edgews/hub/cluster"
	"edgews/hub/cluster/clustertest"
)

// What fails while the node is connected and healthy (JetStream off, as
// when it is overloaded) is written once the registry answers again,
// within a quarter of the TTL and without waiting for a reconnection: a
// move and a disconnect. (With JetStream off, the liveness refresh fails
// too, so the set-up that follows its recovery writes them as well as the
// retry: TestJetStreamToggleView.)
func TestJetStreamToggleRetries(t *testing.T) {
	ns := clustertest.StartNATS(t)
	a := startNodeWith(t, cluster.Config{URLs: ns.URL(), NodeID: "up", TTL: testTTL, OpTimeout: 100 * time.Millisecond})
	enginetest.CheckFor(t, 10*time.Second, a.cl.Healthy, "node healthy")
	tess := dial(t, a, "?name=tess")
	tess.expectPrefix(t, "You are connected!")
	ned := dial(t, a, "?name=ned")
	ned.expectPrefix(t, "You are connected!")

	// The registry itself, read with a client of the test's own.
	kv, _ := registry(t, ns.URL())
	registered(t, kv, "tess", "up lobby tess")
	registered(t, kv, "ned", "up lobby ned")

	reconnects, errs := a.cl.Stats().Reconnects.Load(), a.cl.Stats().RegistryErrors.Load()
	ns.DisableJetStream(t)
	tess.send(t, "/join attic")
	tess.expectPrefix(t, "*** tess joined attic")
	ned.c.Close()
	enginetest.CheckFor(t, 5*time.Second, func() bool { return a.hub.Users() == 1 }, "ned gone from the node")
	// Both calls have failed (the move's read, the release's read).
	enginetest.CheckFor(t, 5*time.Second, func() bool { return a.cl.Stats().RegistryErrors.Load() >= errs+2 }, "the registry calls failed")
	ns.EnableJetStream(t)
	registered(t, kv, "tess", "up attic tess") // the move written
	registered(t, kv, "ned", "")               // freed
	if n := a.cl.Stats().Reconnects.Load(); n != reconnects {
		t.Fatalf("the node reconnected (%d times): the resync wrote them, not the retry", n-reconnects)
	}
}

// JetStream restarted while NATS stays up: the watch's consumer is gone,
// and the other nodes see new users again within a quarter of the TTL
// (nats.go alone noticed after about 20 s, its missed heartbeats).
func TestJetStreamToggleView(t *testing.T) {
	ns := clustertest.StartNATS(t)
	cfg := cluster.Config{URLs: ns.URL(), TTL: testTTL, OpTimeout: 100 * time.Millisecond}
	cfg.NodeID = "a"
	a := startNodeWith(t, cfg)
	cfg.NodeID = "b"
	b := startNodeWith(t, cfg)
	for _, n := range []*node{a, b} {
		enginetest.CheckFor(t, 10*time.Second, n.cl.Healthy, n.cl.ID()+" healthy")
	}
	seen := func(name string) func() bool {
		return func() bool { _, _, ok := b.cl.Lookup(name); return ok }
	}
	tess := dial(t, a, "?name=tess")
	tess.expectPrefix(t, "You are connected!")
	enginetest.CheckFor(t, 5*time.Second, seen("tess"), "b sees tess")

	ns.DisableJetStream(t)
	// Both nodes' liveness refreshes fail at least once (TTL/4 apart).
	time.Sleep(testTTL / 2)
	ns.EnableJetStream(t)
	ned := dial(t, a, "?name=ned")
	ned.expectPrefix(t, "You are connected!")
	enginetest.CheckFor(t, testTTL, seen("ned"), "b sees ned, connected after JetStream came back")
	enginetest.CheckFor(t, testTTL, seen("tess"), "b still sees tess")
}

// A claim whose registry calls fail while the node is connected and
// healthy (JetStream off, as when it is overloaded) is refused as busy,
// not granted: granting it could give the name to two users. Users are
// told so: "name_unavailable". Once the registry answers again the name
// is granted.
func TestJetStreamToggleClaimBusy(t *testing.T) {
	ns := clustertest.StartNATS(t)
	// A short OpTimeout: the calls to a JetStream that is off wait it out.
	a := startNodeWith(t, cluster.Config{URLs: ns.URL(), NodeID: "busy", TTL: testTTL, OpTimeout: 100 * time.Millisecond})
	enginetest.CheckFor(t, 10*time.Second, a.cl.Healthy, "node healthy")
	txt := dial(t, a, "?name=tess")
	txt.expectPrefix(t, "You are connected!")
	js := dial(t, a, "?name=jay", hub.ProtocolJSON)
	js.expectPrefix(t, `{"type":"welcome"`)
	js.expectPrefix(t, `{"type":"history"`)

	ns.DisableJetStream(t)
	if !a.cl.Healthy() {
		t.Fatal("node unhealthy with JetStream off: the test would check the outage path instead")
	}
	res := make(chan hub.ClaimResult, 1)
	a.cl.Claim("Busy", "lobby", hub.ClaimFunc(func(r hub.ClaimResult) { res <- r }))
	if r := <-res; r != hub.ClaimBusy {
		t.Fatalf("claim with the registry failing: %v, want ClaimBusy (%d)", r, hub.ClaimBusy)
	}
	if n := a.cl.Stats().ClaimsBusy.Load(); n != 1 {
		t.Fatalf("ClaimsBusy = %d, want 1", n)
	}
	txt.send(t, "/nick bob")
	txt.expect(t, `error: name "bob" is unavailable: name service busy, try again`)
	js.send(t, `{"type":"nick","name":"bob"}`)
	js.expect(t, `{"type":"error","code":"name_unavailable","text":"name \"bob\" is unavailable: name service busy, try again"}`)
	// A connecting user whose generated name cannot be checked either is
	// told, and closed with 1013 (try again later).
	late := dial(t, a, "?name=late")
	late.expect(t, `error: name "late" is unavailable: name service busy, try again`)
	select {
	case <-late.done:
	case <-time.After(5 * time.Second):
		t.Fatal("connection not closed after a busy claim")
	}

	ns.EnableJetStream(t)
	enginetest.CheckFor(t, 10*time.Second, func() bool {
		a.cl.Claim("Busy", "lobby", hub.ClaimFunc(func(r hub.ClaimResult) { res <- r }))
		return <-res == hub.ClaimGranted
	}, "claim granted once the registry answers")
	txt.send(t, "/nick bob")
	txt.expect(t, "*** tess is now known as bob")
}

// An authenticated user takes its name on a node from an anonymous member
// still arriving there (its claim not answered yet: the registry is down
// and the claim retries). The member is evicted without a room to be
// renamed in: the node must not fail (it dereferenced the missing room).
// The authenticated user's own claim cannot be made either: it is refused
// as busy (let in unregistered, another node could give its name away),
// and greeted under its name once the registry answers.
func TestJetStreamToggleEvictArriving(t *testing.T) {
	ns := clustertest.StartNATS(t)
	n := startAuthNode(t, ns.URL(), "a")
	enginetest.CheckFor(t, 10*time.Second, n.cl.Healthy, "node healthy")
	ns.DisableJetStream(t)
	anon := dial(t, n, "?name=alice") // its claim retries: no greeting yet
	busy := dial(t, n, "?token="+tabsToken(t, "alice"))
	busy.expect(t, `error: name "alice" is unavailable: name service busy, try again`)
	// The anonymous member gets only errors (the name service is busy,
	// then it is closed), or arrives under another name: never as alice.
	for done := false; !done; {
		select {
		case line := <-anon.in:
			if strings.HasPrefix(line, "You are connected!") || strings.HasPrefix(line, "error: ") {
				continue
			}
			t.Fatalf("anonymous member got %q", line)
		case <-anon.done:
			done = true
		case <-time.After(3 * time.Second):
			done = true
		}
	}
	ns.EnableJetStream(t)
	enginetest.CheckFor(t, 10*time.Second, n.cl.Healthy, "node healthy again")
	var tab *client
	enginetest.CheckFor(t, 10*time.Second, func() bool {
		tab = dial(t, n, "?token="+tabsToken(t, "alice"))
		return strings.HasPrefix(tab.next(t), "You are connected!")
	}, "alice greeted once the registry answers")
	x := dial(t, n, "")
	x.expectPrefix(t, "You are connected!")
	x.send(t, "/w alice hi")
	tab.expectPrefix(t, "[user")
}

// An authenticated user whose claim cannot be made (the registry fails
// while NATS is up) is refused as busy, not let in unregistered: another
// node would then give its name to someone else, and whispers to it would
// go there. Once the registry answers, the user connects and holds the
// name cluster-wide.
func TestJetStreamToggleTokenBusy(t *testing.T) {
	ns := clustertest.StartNATS(t)
	a, b := startAuthNode(t, ns.URL(), "a"), startAuthNode(t, ns.URL(), "b")
	for _, n := range []*node{a, b} {
		enginetest.CheckFor(t, 10*time.Second, n.cl.Healthy, n.cl.ID()+" healthy")
	}
	ns.DisableJetStream(t)
	busy := dial(t, a, "?token="+tabsToken(t, "alice"))
	busy.expect(t, `error: name "alice" is unavailable: name service busy, try again`)
	select {
	case <-busy.done:
	case <-time.After(5 * time.Second):
		t.Fatal("connection not closed after a busy claim")
	}
	time.Sleep(testTTL / 2) // liveness refreshes fail: the nodes watch anew once it is back
	ns.EnableJetStream(t)
	var tab *client
	enginetest.CheckFor(t, 10*time.Second, func() bool {
		tab = dial(t, a, "?token="+tabsToken(t, "alice"))
		return strings.HasPrefix(tab.next(t), "You are connected!")
	}, "alice connects once the registry answers")
	enginetest.CheckFor(t, 5*time.Second, heldBy(b, "alice", "a"), "node b sees alice on node a")
	imp := dial(t, b, "?name=alice")
	imp.expectPrefix(t, "You are connected!")
	imp.expectPrefix(t, `error: name "alice" is taken; you are user`)
}
