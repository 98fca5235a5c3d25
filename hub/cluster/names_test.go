package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"edgews/engine/enginetest"
	"edgews/hub"
	"edgews/hub/cluster"
	"edgews/hub/cluster/clustertest"
)

// Names are unique cluster-wide, ignoring case: ?name= and /nick clashes
// are found across nodes, and a freed name can be taken again.
func TestNameClashAcrossNodes(t *testing.T) {
	_, nodes := startCluster(t, 3)
	a := dial(t, nodes[0], "?name=alice")
	a.expect(t, "You are connected! There are 1 users here.")
	b := dial(t, nodes[1], "?name=ALICE")
	b.expect(t, "You are connected! There are 2 users here.")
	refused := b.expectPrefix(t, `error: name "ALICE" is taken; you are user`)
	bName := strings.TrimPrefix(refused, `error: name "ALICE" is taken; you are `)
	c := dial(t, nodes[2], "?name=carl")
	c.expect(t, "You are connected! There are 3 users here.")
	c.send(t, "/nick Alice")
	c.expect(t, `error: name "Alice" is taken`)
	b.send(t, "/nick Carl")
	b.expect(t, `error: name "Carl" is taken`)

	a.c.Close()
	waitUsers(t, nodes[1:], 2)
	waitSubscribed(t, nodes[1:], "lobby")
	c.send(t, "/nick Alice")
	c.expect(t, "*** carl is now known as Alice")
	b.expect(t, "*** carl is now known as Alice")
	b.send(t, "/w alice hi")
	b.expect(t, "["+bName+" -> Alice]: hi")
	c.expect(t, "["+bName+" -> Alice]: hi")
	// carl is free again, once node 2's release has reached the registry.
	enginetest.CheckFor(t, 2*time.Second, func() bool { _, _, held := nodes[1].cl.Lookup("carl"); return !held }, "carl released")
	b.send(t, "/nick carl")
	b.expect(t, "*** "+bName+" is now known as carl")
}

// Two nodes claiming one name at the same instant: exactly one wins, every
// time.
func TestNameRace(t *testing.T) {
	_, nodes := startCluster(t, 3)
	const rounds = 40
	for i := 0; i < rounds; i++ {
		name := fmt.Sprintf("Race%d", i)
		var wg sync.WaitGroup
		wins := make([]hub.ClaimResult, len(nodes))
		for j, n := range nodes {
			wg.Add(1)
			// Different spellings: the same name, ignoring case.
			spelled := name
			if j == 1 {
				spelled = strings.ToLower(name)
			}
			n.cl.Claim(spelled, "lobby", hub.ClaimFunc(func(res hub.ClaimResult) { wins[j] = res; wg.Done() }))
		}
		wg.Wait()
		won, busy := 0, 0
		for _, w := range wins {
			switch w {
			case hub.ClaimGranted:
				won++
			case hub.ClaimBusy:
				busy++
			}
		}
		// A registry that fails under load refuses a claim (ClaimBusy),
		// never grants it twice: exactly one winner unless a claim was
		// refused so.
		if won > 1 || won == 0 && busy == 0 {
			t.Fatalf("round %d: %d nodes won %q (%v), want exactly 1", i, won, name, wins)
		}
		if won == 0 {
			t.Logf("round %d: no winner, %d claims refused as busy (a loaded machine)", i, busy)
		}
	}
}

// The greeting counts the whole cluster; /users and the JSON member lists
// cover the room on every node; presence events cross nodes.
func TestCountsAndRosters(t *testing.T) {
	_, nodes := startCluster(t, 3)
	j := dial(t, nodes[0], "?name=jay", "chat.v1+json")
	var welcome struct {
		Users   int      `json:"users"`
		Members []string `json:"members"`
	}
	if err := json.Unmarshal([]byte(j.next(t)), &welcome); err != nil || welcome.Users != 1 {
		t.Fatalf("welcome %+v, %v", welcome, err)
	}
	j.expectPrefix(t, `{"type":"history"`) // the lobby's (empty) history
	b := dial(t, nodes[1], "?name=bob")
	b.expect(t, "You are connected! There are 2 users here.")
	waitUsers(t, nodes, 2)
	c := dial(t, nodes[2], "?name=cat")
	c.expect(t, "You are connected! There are 3 users here.")
	waitUsers(t, nodes, 3)

	// jay (JSON) is told of the connects on the other nodes, with the
	// member list as node 0 sees it.
	for _, want := range []string{"bob", "cat"} {
		var ev struct{ Type, Event, Name string }
		if err := json.Unmarshal([]byte(j.next(t)), &ev); err != nil || ev.Type != "presence" || ev.Event != "joined" || ev.Name != want {
			t.Fatalf("got %+v (%v), want %s joined", ev, err, want)
		}
	}
	b.send(t, "/users")
	b.expect(t, "*** 3 in lobby: bob, cat, jay")
	j.send(t, `{"type":"users"}`)
	var users struct {
		Members []string `json:"members"`
		Count   int      `json:"count"`
	}
	if err := json.Unmarshal([]byte(j.next(t)), &users); err != nil || users.Count != 3 || strings.Join(users.Members, ",") != "bob,cat,jay" {
		t.Fatalf("users %+v, %v", users, err)
	}

	// A move and a rename on another node converge too.
	c.send(t, "/join games")
	c.expect(t, "*** cat joined games (new room)")
	b.expect(t, "*** cat left lobby")
	b.send(t, "/nick Bo")
	b.expect(t, "*** bob is now known as Bo")
	enginetest.CheckFor(t, 2*time.Second, func() bool {
		names, n := nodes[0].cl.Roster("lobby", nil)
		return n == 1 && names[0] == "Bo"
	}, "node 0 to see Bo alone in the lobby on other nodes")
	c.send(t, "/users")
	c.expect(t, "*** 1 in games: cat")
	b.send(t, "/users")
	b.expect(t, "*** 2 in lobby: Bo, jay")
}

// A node that drains (SIGTERM: its connections closed, then Close)
// removes its users from the other nodes' counts and frees their names at
// once, well before the TTL.
func TestDrainRemovesUsers(t *testing.T) {
	_, nodes := startCluster(t, 3)
	for i, n := range nodes {
		for k := 0; k < 2; k++ {
			dial(t, n, fmt.Sprintf("?name=d%d%d", i, k)).expectPrefix(t, "You are connected!")
		}
	}
	waitUsers(t, nodes, 6)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := nodes[2].srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := nodes[2].cl.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes[:2] {
		enginetest.CheckFor(t, testTTL/2, func() bool { return n.hub.Users()+n.cl.Users() == 4 }, "count without the drained node")
	}
	t.Logf("drained node's users gone from the counts in %v", time.Since(start))
	x := dial(t, nodes[0], "?name=D20")
	x.expect(t, "You are connected! There are 5 users here.")
	x.quiet(t) // no "taken" error: the name was freed
}

// A name claim creates its entry with one publish that expects no last
// sequence (create.go), not with KeyValue.Create: a fresh key is written,
// an existing one or a freed name's delete marker is refused with
// errLastSeq, and the claim's write then takes the freed name through
// KeyValue.Create.
func TestNameCreate(t *testing.T) {
	ns := clustertest.StartNATS(t)
	// A TTL long enough that no retry reaches the workers called below.
	n := startNodeWith(t, cluster.Config{URLs: ns.URL(), NodeID: "n1", TTL: time.Minute, OpTimeout: 2 * time.Second})
	enginetest.CheckFor(t, 10*time.Second, n.cl.Healthy, "node healthy")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.cl.Idle(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.cl.CreateEntry("dora", "n1 lobby Dora"); err != nil {
		t.Fatalf("create of a fresh key: %v", err)
	}
	if got := n.cl.NamesEntry("dora"); got != "n1 lobby Dora" {
		t.Fatalf("entry %q after the create", got)
	}
	if err := n.cl.CreateEntry("dora", "n1 lobby DORA"); !cluster.IsLastSeq(err) {
		t.Fatalf("create of an existing key: %v, want the last-sequence refusal", err)
	}
	if got := n.cl.NamesEntry("dora"); got != "n1 lobby Dora" {
		t.Fatalf("entry %q after a refused create: overwritten", got)
	}
	if err := n.cl.DeleteEntry("dora"); err != nil {
		t.Fatal(err)
	}
	if err := n.cl.CreateEntry("dora", "n1 lobby Dora"); !cluster.IsLastSeq(err) {
		t.Fatalf("create over a delete marker: %v, want the last-sequence refusal", err)
	}
	if ok, err := n.cl.WriteEntry("dora", "Dora", "den"); !ok || err != nil {
		t.Fatalf("claim of a freed name: %v %v, want it written", ok, err)
	}
	if got := n.cl.NamesEntry("dora"); got != "n1 den Dora" {
		t.Fatalf("entry %q after claiming the freed name", got)
	}
	// Many creates in a row: each gets its own ack (none is taken for
	// another's).
	for i := range 200 {
		key := fmt.Sprintf("u%d", i)
		if err := n.cl.CreateEntry(key, "n1 lobby "+key); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
		if err := n.cl.CreateEntry(key, "n1 lobby "+key); !cluster.IsLastSeq(err) {
			t.Fatalf("second create %d: %v", i, err)
		}
	}
}
