package main

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"edgews/engine/enginetest"
	"edgews/hub/api/client"
	"edgews/hub/cluster/clustertest"
	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
)

// The server API on a cluster of three built nodes over a real
// nats-server: a publish through A reaches the members on B and C once;
// a disconnect, a mute and a ban through A act on a user on C; presence
// through B lists every node's members; info through C lists the nodes;
// the events go to NATS; a ban outlives the restart of the node that set
// it.
func TestServerAPICluster(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	ns := clustertest.StartNATS(t)
	flags := []string{"--nats", ns.URL(), "--cluster-ttl", "2s", "--chat-rate", "0",
		"--api-addr", "127.0.0.1:0", "--api-key-file", apiKeyFile(t), "--events-nats"}
	start := func(id string) *node {
		n := startNode(t, append(flags, "--node-id", id)...)
		enginetest.CheckFor(t, 10*time.Second, func() bool { code, _ := healthz("http://" + n.metricsAddr + "/healthz"); return code == 200 }, id+" healthy")
		return n
	}
	a, b, c := start("a"), start("b"), start("c")
	apiA, apiB, apiC := apiOf(t, a), apiOf(t, b), apiOf(t, c)
	ctx := context.Background()

	nc, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	events, err := nc.SubscribeSync("edgews.events.>")
	if err != nil {
		t.Fatal(err)
	}

	bee, _ := chatClient(t, b, "?name=bee")
	cee, _ := chatClient(t, c, "?name=cee")
	vic, _ := chatClient(t, c, "?name=vic")
	jc := jsonClient(t, c, "?name=jc")
	waitMetric(t, a, "wsnode_cluster_remote_users", 4)

	// publish through A: once on B and C.
	if err := apiA.Publish(ctx, "lobby", "hello cluster"); err != nil {
		t.Fatal(err)
	}
	if err := apiA.Publish(ctx, "lobby", "marker"); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*websocket.Conn{bee, cee, vic} {
		for _, want := range []string{"*** hello cluster", "*** marker"} {
			if got := readLine(t, cl); got != want {
				t.Fatalf("got %q, want %q (once each, in order)", got, want)
			}
		}
	}
	if ev := nextEvent(t, jc, "notice"); ev["text"] != "hello cluster" {
		t.Fatalf("JSON member on C: %v", ev)
	}
	if ev := nextEvent(t, jc, "notice"); ev["text"] != "marker" {
		t.Fatalf("JSON member on C, second: %v", ev)
	}

	// presence through B: every node's members.
	p, err := apiB.Presence(ctx, "lobby")
	if err != nil || p.Count != 4 {
		t.Fatalf("presence through B: %+v %v", p, err)
	}
	var who []string
	for _, m := range p.Members {
		who = append(who, m.Name+"@"+m.Node)
	}
	if !slices.Equal(who, []string{"bee@b", "cee@c", "jc@c", "vic@c"}) {
		t.Fatalf("presence through B: %q", who)
	}
	if rooms, err := apiA.Rooms(ctx); err != nil || len(rooms) != 1 || rooms[0].Count != 4 {
		t.Fatalf("rooms through A: %+v %v", rooms, err)
	}
	if info, err := apiC.Info(ctx); err != nil || len(info.Nodes) != 3 || info.Users != 4 || info.Nodes[0].Node != "a" || len(info.Unanswered) != 0 {
		t.Fatalf("info through C: %+v %v", info, err)
	}

	// disconnect through A, of a user on C.
	if n, err := apiA.Disconnect(ctx, client.Name("CEE"), 4002, "kicked"); err != nil || n != 1 {
		t.Fatalf("disconnect: %d %v\n%s", n, err, a.logs())
	}
	if ce := closeOf(t, cee); ce.Code != 4002 || ce.Text != "kicked" {
		t.Fatalf("cee closed with %v", ce)
	}

	// mute through A, of a user on C: its line reaches nobody.
	if err := apiA.Mute(ctx, client.Name("vic"), "", time.Minute); err != nil {
		t.Fatal(err)
	}
	_ = vic.WriteMessage(websocket.TextMessage, []byte("spam"))
	if got := readLine(t, vic); !strings.HasPrefix(got, "error: you are muted for ") {
		t.Fatalf("muted vic got %q", got)
	}
	_ = bee.WriteMessage(websocket.TextMessage, []byte("after"))
	if got := readLine(t, bee); got != "[bee]: after" {
		t.Fatalf("bee got %q (the muted line?)", got)
	}
	if got := readLine(t, vic); got != "[bee]: after" {
		t.Fatalf("vic got %q", got)
	}
	if _, mutes, _ := apiB.Bans(ctx); len(mutes) != 1 || mutes[0].Name != "vic" {
		t.Fatalf("mutes through B: %+v", mutes)
	}

	// ban through A, of a user on C: closed, refused on every node.
	if n, err := apiA.Ban(ctx, client.Name("vic"), time.Minute, "abuse"); err != nil || n != 1 {
		t.Fatalf("ban: %d %v", n, err)
	}
	if ce := closeOf(t, vic); ce.Code != 1008 {
		t.Fatalf("vic closed with %v", ce)
	}
	for _, n := range []*node{a, b, c} {
		if code := refused(t, n, "?name=vic"); code != 403 {
			t.Fatalf("a banned name connects: %d", code)
		}
	}

	// The events, on NATS: bee's message, made by B.
	deadline := time.Now().Add(5 * time.Second)
	for {
		m, err := events.NextMsg(time.Until(deadline))
		if err != nil {
			t.Fatalf("no message event of bee on NATS: %v", err)
		}
		var ev map[string]any
		if json.Unmarshal(m.Data, &ev) == nil && ev["type"] == "message" && ev["text"] == "after" {
			if m.Subject != "edgews.events.message.lobby" || ev["node"] != "b" || ev["from"] != "bee" {
				t.Fatalf("event %s %v", m.Subject, ev)
			}
			break
		}
	}

	// A restarts: the ban it set holds there still (and elsewhere).
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-a.exited; err != nil {
		t.Fatalf("a exit: %v", err)
	}
	a2 := start("a")
	enginetest.CheckFor(t, 5*time.Second, func() bool { return refused(t, a2, "?name=vic") == 403 }, "the ban on the restarted node")
	if bans, _, err := apiOf(t, a2).Bans(ctx); err != nil || len(bans) != 1 || bans[0].Name != "vic" || bans[0].Reason != "abuse" {
		t.Fatalf("bans after the restart: %+v %v", bans, err)
	}
	if ok, err := apiB.Unban(ctx, client.Name("vic")); !ok || err != nil {
		t.Fatalf("unban through B: %v %v", ok, err)
	}
	for _, n := range []*node{a2, c} {
		if code := refused(t, n, "?name=vic"); code != 101 {
			t.Fatalf("after unban through B: %d", code)
		}
	}
}
