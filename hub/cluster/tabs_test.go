package cluster_test

import (
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
