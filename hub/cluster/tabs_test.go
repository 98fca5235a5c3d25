package cluster_test

import (
	"strings"
	"testing"
	"time"

	"edgews/engine"
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
	cl, err := cluster.New(cluster.Config{URLs: url, NodeID: id, TTL: testTTL, OpTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{cl: cl}
	t.Cleanup(func() { n.close(t) })
	n.srv = engine.New(engine.Config{Addr: "127.0.0.1:0", Loops: 2})
	n.hub = hub.New(n.srv, hub.Config{Shards: 4, Cluster: cl, Auth: v})
	enginetest.Start(t, n.srv)
	return n
}

// An authenticated user's tabs on two nodes: when the tab whose node held
// the name in the registry leaves, the other tab's node claims it, so the
// name stays reserved cluster-wide while the user is connected.
func TestTokenTabsAcrossNodes(t *testing.T) {
	ns := clustertest.StartNATS(t)
	var nodes []*node
	for _, id := range []string{"a", "b", "c"} {
		nodes = append(nodes, startAuthNode(t, ns.URL(), id))
	}
	for _, n := range nodes {
		enginetest.CheckFor(t, 10*time.Second, n.cl.Healthy, n.cl.ID()+" healthy")
	}
	a, b, c := nodes[0], nodes[1], nodes[2]
	tok := tabsToken(t, "alice")
	tab1 := dial(t, a, "?token="+tok)
	tab1.expectPrefix(t, "You are connected!")
	enginetest.CheckFor(t, 5*time.Second, func() bool { node, _, ok := c.cl.Lookup("alice"); return ok && node == "a" }, "alice held by node a")
	tab2 := dial(t, b, "?token="+tok)
	tab2.expectPrefix(t, "You are connected!")
	tab1.c.Close()
	enginetest.CheckFor(t, 5*time.Second, func() bool { node, _, ok := c.cl.Lookup("alice"); return ok && node == "b" }, "alice held by node b once the tab on a left")
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
	ns := clustertest.StartNATS(t)
	var nodes []*node
	for _, id := range []string{"a", "b", "c"} {
		nodes = append(nodes, startAuthNode(t, ns.URL(), id))
	}
	for _, n := range nodes {
		enginetest.CheckFor(t, 10*time.Second, n.cl.Healthy, n.cl.ID()+" healthy")
	}
	a, b, c := nodes[0], nodes[1], nodes[2]
	anon := dial(t, a, "?name=alice")
	anon.expectPrefix(t, "You are connected!")
	enginetest.CheckFor(t, 5*time.Second, func() bool { node, _, ok := c.cl.Lookup("alice"); return ok && node == "a" }, "alice held by node a")
	tab := dial(t, b, "?token="+tabsToken(t, "alice"))
	tab.expectPrefix(t, "You are connected!")
	line := anon.expectPrefix(t, `error: name "alice" is reserved for its authenticated user; you are user`)
	newName := line[strings.LastIndex(line, " ")+1:]
	anon.expect(t, "*** alice is now known as "+newName)
	tab.expect(t, "*** alice is now known as "+newName) // the lobby, on the other node
	enginetest.CheckFor(t, 5*time.Second, func() bool { node, _, ok := c.cl.Lookup("alice"); return ok && node == "b" }, "alice held by node b")
	enginetest.CheckFor(t, 5*time.Second, func() bool { node, _, ok := c.cl.Lookup(newName); return ok && node == "a" }, newName+" held by node a")
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
