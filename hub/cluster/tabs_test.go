package cluster_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"edgews/engine/enginetest"
	"edgews/hub"
	"edgews/hub/auth"
	"edgews/hub/cluster"
	"edgews/hub/cluster/clustertest"
	"github.com/golang-jwt/jwt/v5"
)

var tabsSecret = []byte("0123456789abcdef0123456789abcdef")

// startAuthNode is startNode with connect tokens (HS256, optional).
func startAuthNode(t *testing.T, url, id string) *node {
	t.Helper()
	v, err := auth.New(auth.Config{Mode: auth.Optional, HMACSecret: tabsSecret, ValidName: hub.ValidName})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return startNodeHub(t, cluster.Config{URLs: url, NodeID: id, TTL: testTTL, OpTimeout: time.Second}, hub.Config{Shards: 4, Auth: v})
}

// startAuthCluster starts NATS and nodes a, b and c with connect tokens,
// and waits until every node is connected and set up.
func startAuthCluster(t *testing.T) (a, b, c *node) {
	t.Helper()
	ns := clustertest.StartNATS(t)
	a, b, c = startAuthNode(t, ns.URL(), "a"), startAuthNode(t, ns.URL(), "b"), startAuthNode(t, ns.URL(), "c")
	for _, n := range []*node{a, b, c} {
		enginetest.CheckFor(t, 10*time.Second, n.cl.Healthy, n.cl.ID()+" healthy")
	}
	return a, b, c
}

// heldBy says whether view's node sees name held by the node id.
func heldBy(view *node, name, id string) func() bool {
	return func() bool { node, _, ok := view.cl.Lookup(name); return ok && node == id }
}

// An authenticated user's tabs on two nodes: when the tab whose node held
// the name in the registry leaves, the other tab's node claims it, so the
// name stays reserved cluster-wide while the user is connected.
func TestTokenTabsAcrossNodes(t *testing.T) {
	a, b, c := startAuthCluster(t)
	tok := tabsToken(t, "alice")
	tab1 := dial(t, a, "?token="+tok)
	tab1.expectPrefix(t, "You are connected!")
	enginetest.CheckFor(t, 5*time.Second, heldBy(c, "alice", "a"), "alice held by node a")
	tab2 := dial(t, b, "?token="+tok)
	tab2.expectPrefix(t, "You are connected!")
	tab1.c.Close()
	enginetest.CheckFor(t, 5*time.Second, heldBy(c, "alice", "b"), "alice held by node b once the tab on a left")
	x := dial(t, c, "?name=alice")
	x.expectPrefix(t, "You are connected!")
	x.expectPrefix(t, `error: name "alice" is taken; you are user`)
	x.send(t, "/w alice hi")
	tab2.expectPrefix(t, "[user")
}

// An authenticated user connecting on one node with the name an anonymous
// user holds on another: the anonymous user is renamed there (told why),
// and the name becomes the authenticated user's node's in the registry.
func TestTokenReservesAcrossNodes(t *testing.T) {
	a, b, c := startAuthCluster(t)
	anon := dial(t, a, "?name=alice")
	anon.expectPrefix(t, "You are connected!")
	enginetest.CheckFor(t, 5*time.Second, heldBy(c, "alice", "a"), "alice held by node a")
	tab := dial(t, b, "?token="+tabsToken(t, "alice"))
	tab.expectPrefix(t, "You are connected!")
	line := anon.expectPrefix(t, `error: name "alice" is reserved for its authenticated user; you are user`)
	newName := line[strings.LastIndex(line, " ")+1:]
	anon.expect(t, "*** alice is now known as "+newName)
	tab.expect(t, "*** alice is now known as "+newName) // the lobby, on the other node
	enginetest.CheckFor(t, 5*time.Second, heldBy(c, "alice", "b"), "alice held by node b")
	enginetest.CheckFor(t, 5*time.Second, heldBy(c, newName, "a"), newName+" held by node a")
	x := dial(t, c, "")
	x.expectPrefix(t, "You are connected!")
	x.send(t, "/w alice hi")
	tab.expectPrefix(t, "[user")
}

// tabsToken is a connect token for name, signed with tabsSecret.
func tabsToken(t *testing.T, name string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": name, "exp": time.Now().Add(time.Hour).Unix()}).SignedString(tabsSecret)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// A whisper to an authenticated user with a tab on each of two nodes
// reaches both tabs, once each and in the sender's order, whichever node
// the sender is on (the registry holds the name for one node only); the
// sender's echo is as on one node. When one tab leaves (the one whose node
// holds the name, or the other), the other still gets whispers, from both
// nodes.
func TestWhisperReachesTabsOnEveryNode(t *testing.T) {
	for _, leaving := range []string{"holder", "other"} {
		t.Run(leaving+" tab leaves", func(t *testing.T) {
			ns := clustertest.StartNATS(t)
			a, b := startAuthNode(t, ns.URL(), "a"), startAuthNode(t, ns.URL(), "b")
			for _, n := range []*node{a, b} {
				enginetest.CheckFor(t, 10*time.Second, n.cl.Healthy, n.cl.ID()+" healthy")
			}
			tok := tabsToken(t, "alice")
			tab1 := &tab{cl: dial(t, a, "?token="+tok)}
			tab1.cl.expectPrefix(t, "You are connected!")
			enginetest.CheckFor(t, 5*time.Second, heldBy(b, "alice", "a"), "alice held by node a")
			tab2 := &tab{cl: dial(t, b, "?token="+tok, hub.ProtocolJSON), json: true}
			tab2.cl.expectPrefix(t, `{"type":"welcome"`)
			bob := dial(t, a, "?name=bob")
			bob.expectPrefix(t, "You are connected!")
			carol := dial(t, b, "?name=carol")
			carol.expectPrefix(t, "You are connected!")
			enginetest.CheckFor(t, 5*time.Second, heldBy(a, "carol", "b"), "a sees carol")
			enginetest.CheckFor(t, 5*time.Second, heldBy(b, "bob", "a"), "b sees bob")
			tabs := []*tab{tab1, tab2}
			whispers := func(from *client, name string, texts ...string) {
				t.Helper()
				for _, text := range texts {
					from.send(t, "/w alice "+text)
				}
				for _, text := range texts {
					from.expect(t, "["+name+" -> alice]: "+text)
					for _, tb := range tabs {
						tb.expectWhisper(t, name, text)
					}
				}
			}
			whispers(bob, "bob", "b1", "b2", "b3")     // the sender on the node holding the name
			whispers(carol, "carol", "c1", "c2", "c3") // on the other node
			for _, tb := range tabs {
				tb.quiet(t) // once only
			}
			bob.quiet(t)
			carol.quiet(t)
			if got := a.hub.Stats().Whispers.Load() + b.hub.Stats().Whispers.Load(); got != 12 {
				t.Fatalf("Whispers = %d on the two nodes, want 12 (6 whispers, delivered on each node)", got)
			}

			if leaving == "holder" {
				tab1.cl.c.Close()
				tabs = tabs[1:]
				enginetest.CheckFor(t, 5*time.Second, heldBy(a, "alice", "b"), "alice held by node b once the tab on a left")
			} else {
				tab2.cl.c.Close()
				tabs = tabs[:1]
				enginetest.CheckFor(t, 5*time.Second, func() bool { return b.hub.Users() == 1 }, "the tab on b gone")
			}
			whispers(bob, "bob", "b4", "b5")
			whispers(carol, "carol", "c4", "c5")
			tabs[0].quiet(t)
		})
	}
}

// tab is a client of an authenticated user, text or JSON.
type tab struct {
	cl   *client
	json bool
}

// expectWhisper reads the whisper text from name, past presence events.
func (tb *tab) expectWhisper(t *testing.T, name, text string) {
	t.Helper()
	if !tb.json {
		tb.cl.expect(t, "["+name+" -> alice]: "+text)
		return
	}
	s := tb.cl.next(t)
	for strings.HasPrefix(s, `{"type":"presence"`) {
		s = tb.cl.next(t)
	}
	type whisper struct{ Type, From, To, Text string }
	var ev whisper
	if json.Unmarshal([]byte(s), &ev) != nil || ev != (whisper{"whisper", name, "alice", text}) {
		t.Fatalf("the JSON tab got %q, want the whisper %q from %s", s, text, name)
	}
}

// quiet checks that nothing but presence events arrives for a moment.
func (tb *tab) quiet(t *testing.T) {
	t.Helper()
	deadline := time.After(100 * time.Millisecond)
	for {
		select {
		case s := <-tb.cl.in:
			if !strings.HasPrefix(s, `{"type":"presence"`) {
				t.Fatalf("unexpected %q", s)
			}
		case <-deadline:
			return
		}
	}
}

// An authenticated user granted its name on a node cut off from NATS,
// while an anonymous user of another node took it in the registry: once
// the node is back, the registry's holder is asked to give the name up (a
// reservation, as when the user connects), its anonymous user is renamed,
// and the name becomes the token holder's node's. It used to stay with
// the anonymous user, and whispers to the name reached it.
func TestOutageTokenNameReserved(t *testing.T) {
	ns := clustertest.StartNATS(t)
	p := clustertest.StartProxy(t, ns.URL())
	a := startAuthNode(t, p.URL(), "a")
	b := startAuthNode(t, ns.URL(), "b")
	for _, n := range []*node{a, b} {
		enginetest.CheckFor(t, 10*time.Second, n.cl.Healthy, n.cl.ID()+" healthy")
	}
	p.Down()
	enginetest.CheckFor(t, 5*time.Second, func() bool { return !a.cl.Healthy() }, "node a cut off")
	owner := dial(t, a, "?token="+tabsToken(t, "alice"))
	owner.expectPrefix(t, "You are connected!")
	anon := dial(t, b, "?name=alice")
	anon.expectPrefix(t, "You are connected!")
	names, _ := registry(t, ns.URL())
	enginetest.CheckFor(t, 5*time.Second, func() bool { return entry(names, "alice") == "b lobby alice" }, "alice registered for node b")

	p.Up()
	line := anon.expectPrefix(t, `error: name "alice" is reserved for its authenticated user; you are user`)
	newName := line[strings.LastIndex(line, " ")+1:]
	anon.expect(t, "*** alice is now known as "+newName)
	enginetest.CheckFor(t, 10*time.Second, func() bool { return entry(names, "alice") == "a lobby alice" }, "alice registered for node a")
	x := dial(t, b, "")
	x.expectPrefix(t, "You are connected!")
	enginetest.CheckFor(t, 5*time.Second, heldBy(b, "alice", "a"), "node b sees alice on node a")
	x.send(t, "/w alice hi")
	for {
		if l := owner.next(t); strings.HasPrefix(l, "[user") {
			break
		}
	}
}
