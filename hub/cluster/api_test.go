package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"edgews/engine"
	"edgews/engine/enginetest"
	"edgews/hub"
	"edgews/hub/cluster"
	"edgews/hub/cluster/clustertest"
	"github.com/nats-io/nats.go"
)

// The cluster's Control, in process (under -race): a call on one node
// acts on every node's members; bans and mutes reach the other nodes'
// hubs through the key-value watch too, and leave them when their TTL
// ends; a node cut off refuses cluster-wide calls.
func TestControlAcrossNodes(t *testing.T) {
	ns, nodes := startCluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	ctx := context.Background()
	ann := dial(t, b, "?name=ann")
	ann.expectPrefix(t, "You are connected!")
	bob := dial(t, c, "?name=bob")
	bob.expectPrefix(t, "You are connected!")
	cat := dial(t, c, "?name=cat")
	cat.expectPrefix(t, "You are connected!")
	waitUsers(t, nodes, 3)
	waitSubscribed(t, nodes[1:], hub.Lobby)

	ctlA := a.cl.Control()
	if err := ctlA.Publish(ctx, []string{"lobby"}, "from the backend"); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*client{ann, bob, cat} {
		cl.expect(t, "*** from the backend")
	}
	pr, err := b.cl.Control().Presence(ctx, "lobby")
	if err != nil || pr.Count != 3 || pr.Members[0].Name != "ann" || pr.Members[0].Node != b.cl.ID() || pr.Members[1].Node != c.cl.ID() {
		t.Fatalf("presence through b: %+v %v", pr, err)
	}
	if n, err := ctlA.Disconnect(ctx, hub.Target{Name: "cat"}, 4100, "out"); err != nil || n != 1 {
		t.Fatalf("disconnect through a: %d %v", n, err)
	}
	<-cat.done

	// A short mute through a holds on c at once, then expires everywhere:
	// the key-value watch removes it from every hub.
	if err := ctlA.Mute(ctx, hub.Mute{Target: hub.Target{Name: "bob"}, Until: time.Now().Add(1500 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	bob.send(t, "hush")
	bob.expectPrefix(t, "error: you are muted for ")
	ann.quiet(t)
	for _, n := range nodes {
		if _, mutes := n.hub.Moderation(); len(mutes) != 1 {
			t.Fatalf("%s: mutes %+v", n.cl.ID(), mutes)
		}
	}
	enginetest.CheckFor(t, 5*time.Second, func() bool {
		_, mb := b.hub.Moderation()
		return len(mb) == 0
	}, "the mute gone at its TTL")
	bob.send(t, "free")
	ann.expect(t, "[bob]: free")
	bob.expect(t, "[bob]: free")

	// A ban through c (its node) lands in b's hub through the watch too,
	// and an unban through b lifts it on c.
	if n, err := c.cl.Control().Ban(ctx, hub.Ban{Target: hub.Target{User: "sub|with:odd chars"}, Until: time.Now().Add(time.Hour)}); err != nil || n != 0 {
		t.Fatalf("ban: %d %v", n, err)
	}
	if bans, _ := b.hub.Moderation(); len(bans) != 1 || bans[0].User != "sub|with:odd chars" {
		t.Fatalf("b's bans: %+v", bans)
	}
	if ok, err := b.cl.Control().Unban(ctx, hub.Target{User: "sub|with:odd chars"}); !ok || err != nil {
		t.Fatalf("unban: %v %v", ok, err)
	}
	enginetest.CheckFor(t, 2*time.Second, func() bool { bans, _ := c.hub.Moderation(); return len(bans) == 0 }, "the unban on c")

	// Under load a node's liveness key may lapse for a moment (the
	// cluster then counts it gone): ask until all three answer.
	var info hub.Info
	enginetest.CheckFor(t, 5*time.Second, func() bool {
		info, err = c.cl.Control().Info(ctx)
		return err == nil && len(info.Nodes) == 3
	}, "info listing the three nodes")
	if info.Users != 2 {
		t.Fatalf("info: %+v", info)
	}

	// Cut off: cluster-wide calls are refused.
	ns.Shutdown()
	enginetest.CheckFor(t, 5*time.Second, func() bool { return !a.cl.Healthy() }, "a cut off")
	if _, err := ctlA.Presence(ctx, "lobby"); !errors.Is(err, hub.ErrUnavailable) {
		t.Fatalf("presence while cut off: %v", err)
	}
	if err := ctlA.Publish(ctx, []string{"lobby"}, "x"); !errors.Is(err, hub.ErrUnavailable) {
		t.Fatalf("publish while cut off: %v", err)
	}
	ns.Restart(t) // the nodes say goodbye quickly at the end
	for _, n := range nodes {
		enginetest.CheckFor(t, 10*time.Second, n.cl.Healthy, n.cl.ID()+" back")
	}
}

// Deleting from the shared history: every node's JSON members are told,
// every node's history loses the message, the next message gets the next
// offset (not the deleted one's, also when it was the room's last), and a
// node started afterwards never sees it.
func TestControlDeleteSharedHistory(t *testing.T) {
	ns := clustertest.StartNATS(t)
	a := startHistoryNode(t, ns.URL(), "a")
	b := startHistoryNode(t, ns.URL(), "b")
	ja := dial(t, a, "?name=ja", hub.ProtocolJSON)
	ja.nextOf(t, "history")
	jb := dial(t, b, "?name=jb", hub.ProtocolJSON)
	jb.nextOf(t, "history")
	waitSubscribed(t, []*node{a, b}, hub.Lobby)
	for _, s := range []string{"one", "two", "three"} {
		ja.send(t, s)
		if ev := jb.nextOf(t, "message"); ev.Text != s {
			t.Fatalf("b got %+v", ev)
		}
	}
	ctx := context.Background()
	for _, off := range []uint64{2, 3} { // the middle one, then the last
		if err := b.cl.Control().Delete(ctx, "lobby", off); err != nil {
			t.Fatal(err)
		}
		for _, cl := range []*client{ja, jb} {
			if ev := cl.nextOf(t, "deleted"); ev.Offset != off || ev.Room != "lobby" {
				t.Fatalf("deleted %+v", ev)
			}
		}
	}
	if err := a.cl.Control().Delete(ctx, "lobby", 3); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("deleting again: %v", err)
	}
	ja.send(t, "four")
	for _, cl := range []*client{ja, jb} { // both mirrors have it then
		if ev := cl.nextOf(t, "message"); ev.Offset != 4 {
			t.Fatalf("the message after the deletes has offset %d, want 4", ev.Offset)
		}
	}
	for _, n := range []*node{a, b} {
		page, err := n.hub.Control().History(ctx, hub.HistoryQuery{Room: "lobby"})
		if err != nil || len(page.Messages) != 2 || page.Messages[0].Text != "one" || page.Messages[1].Text != "four" {
			t.Fatalf("%s's history: %+v %v", n.cl.ID(), page, err)
		}
	}
	c := startHistoryNode(t, ns.URL(), "c")
	enginetest.CheckFor(t, 5*time.Second, func() bool {
		page, _ := c.hub.Control().History(ctx, hub.HistoryQuery{Room: "lobby"})
		return len(page.Messages) == 2
	}, "c's history from the stream")
	page, _ := c.hub.Control().History(ctx, hub.HistoryQuery{Room: "lobby"})
	if texts := []string{page.Messages[0].Text, page.Messages[1].Text}; !slices.Equal(texts, []string{"one", "four"}) {
		t.Fatalf("c's history: %q", texts)
	}
	if rs, err := c.hub.Control().History(ctx, hub.HistoryQuery{Room: "lobby", Resume: true, Since: 1, Epoch: page.Epoch}); err != nil || rs.Reset || len(rs.Messages) != 1 {
		t.Fatalf("resume across the deleted messages on c: %+v %v", rs, err)
	}
}

// Without the shared history, each node deletes its own copy of the
// message (found by sender, time and text: the offsets differ).
func TestControlDeletePerNodeHistory(t *testing.T) {
	_, nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	ja := dial(t, a, "?name=ja", hub.ProtocolJSON)
	ja.nextOf(t, "history")
	jb := dial(t, b, "?name=jb", hub.ProtocolJSON)
	jb.nextOf(t, "history")
	waitSubscribed(t, nodes, hub.Lobby)
	ja.send(t, "keep")
	ja.nextOf(t, "message")
	jb.nextOf(t, "message")
	ja.send(t, "drop")
	said := ja.nextOf(t, "message")
	jb.nextOf(t, "message")
	if err := a.cl.Control().Delete(context.Background(), "lobby", said.Offset); err != nil {
		t.Fatal(err)
	}
	ja.nextOf(t, "deleted")
	jb.nextOf(t, "deleted")
	for _, n := range nodes {
		page, _ := n.hub.Control().History(context.Background(), hub.HistoryQuery{Room: "lobby"})
		if len(page.Messages) != 1 || page.Messages[0].Text != "keep" {
			t.Fatalf("%s: %+v", n.cl.ID(), page)
		}
	}
}

// The node's events on NATS, NAME.events.KIND.ROOM (a whisper's room
// "_"), made by the node where they happen.
func TestEventsOnNATS(t *testing.T) {
	ns := clustertest.StartNATS(t)
	cl, err := cluster.New(cluster.Config{URLs: ns.URL(), NodeID: "ev", TTL: testTTL, OpTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{cl: cl}
	t.Cleanup(func() { n.close(t) })
	n.srv = engine.New(engine.Config{Addr: "127.0.0.1:0", Loops: 2})
	n.hub = hub.New(n.srv, hub.Config{Shards: 4, History: 10, Cluster: cl,
		Backend: hub.BackendConfig{NodeID: cl.ID(), Events: cl, EventWhispers: true}})
	enginetest.Start(t, n.srv)
	enginetest.CheckFor(t, 10*time.Second, cl.Healthy, "healthy")

	nc, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("edgews.events.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	amy := dial(t, n, "?name=amy")
	amy.expectPrefix(t, "You are connected!")
	bo := dial(t, n, "?name=bo")
	bo.expectPrefix(t, "You are connected!")
	amy.send(t, "hello")
	amy.send(t, "/w bo psst")
	want := []string{"edgews.events.connect.lobby amy", "edgews.events.connect.lobby bo", "edgews.events.message.lobby hello", "edgews.events.whisper._ psst"}
	var got []string
	for len(got) < len(want) {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("events so far %q: %v", got, err)
		}
		var ev struct{ Type, Node, Name, Text string }
		if err := json.Unmarshal(m.Data, &ev); err != nil || ev.Node != "ev" || !strings.Contains(m.Subject, ev.Type) {
			t.Fatalf("event %s %s", m.Subject, m.Data)
		}
		got = append(got, m.Subject+" "+ev.Name+ev.Text)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
}
