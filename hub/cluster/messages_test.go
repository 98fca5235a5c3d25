package cluster_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"edgews/engine/enginetest"
)

// Every member of a room on every node gets every message exactly once,
// in each sender's order, and each broadcast crosses NATS once per other
// node.
func TestMessagesAcrossNodes(t *testing.T) {
	_, nodes := startCluster(t, 3)
	const perNode, msgs = 3, 40
	var cls []*client
	for i, n := range nodes {
		for j := 0; j < perNode; j++ {
			cl := dial(t, n, fmt.Sprintf("?name=u%d%d", i, j))
			cl.expectPrefix(t, "You are connected!")
			cls = append(cls, cl)
		}
	}
	waitSubscribed(t, nodes, "lobby")
	waitUsers(t, nodes, int64(len(cls)))
	// One line from each node: what the nodes published before (the
	// JSON-only presence of each connect) has arrived once these have.
	for i := range nodes {
		cls[i*perNode].send(t, "sync")
	}
	for _, cl := range cls {
		for range nodes {
			cl.expectPrefix(t, "[u")
		}
	}
	var out0, in0, del0 [3]int64
	for i, n := range nodes {
		out0[i], in0[i], del0[i] = n.cl.Stats().MsgsOut.Load(), n.cl.Stats().MsgsIn.Load(), n.hub.Stats().Deliveries.Load()
	}

	var wg sync.WaitGroup
	for i, cl := range cls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < msgs; k++ {
				_ = cl.c.WriteMessage(1, []byte(fmt.Sprintf("m%d-%d", i, k)))
			}
		}()
	}
	total := len(cls) * msgs
	for ci, cl := range cls {
		next := make([]int, len(cls)) // next message expected from each sender
		for r := 0; r < total; r++ {
			line := cl.next(t)
			var from, k int
			if _, err := fmt.Sscanf(line[strings.Index(line, "m"):], "m%d-%d", &from, &k); err != nil {
				t.Fatalf("client %d: unexpected line %q", ci, line)
			}
			if want := fmt.Sprintf("[u%d%d]: ", from/perNode, from%perNode); !strings.HasPrefix(line, want) {
				t.Fatalf("client %d: %q does not come from %s", ci, line, want)
			}
			if k != next[from] {
				t.Fatalf("client %d: from sender %d got m%d, want m%d (order or loss)", ci, from, k, next[from])
			}
			next[from]++
		}
		cl.quiet(t) // and nothing twice
	}
	wg.Wait()

	var deliveries int64
	for i, n := range nodes {
		deliveries += n.hub.Stats().Deliveries.Load() - del0[i]
		// One NATS message per broadcast, and each other node's broadcast
		// arrives once.
		if out := n.cl.Stats().MsgsOut.Load() - out0[i]; out != perNode*msgs {
			t.Errorf("node %d published %d messages, want %d", i, out, perNode*msgs)
		}
		if in := n.cl.Stats().MsgsIn.Load() - in0[i]; in != int64(2*perNode*msgs) {
			t.Errorf("node %d received %d messages, want %d", i, in, 2*perNode*msgs)
		}
	}
	if want := int64(len(cls) * total); deliveries != want {
		t.Errorf("deliveries = %d, want %d", deliveries, want)
	}
}

// Rooms: a node subscribes to a room only while it has members there, so
// a message to a room with no member on a node never reaches that node.
func TestRoomsAndInterest(t *testing.T) {
	_, nodes := startCluster(t, 3)
	a := dial(t, nodes[0], "?name=ann")
	a.expectPrefix(t, "You are connected!")
	b := dial(t, nodes[1], "?name=bob")
	b.expectPrefix(t, "You are connected!")
	c := dial(t, nodes[2], "?name=cat")
	c.expectPrefix(t, "You are connected!")
	waitSubscribed(t, nodes, "lobby")

	a.send(t, "/join games")
	a.expect(t, "*** ann joined games (new room)")
	// ann's leaving is told in the lobby, on every node.
	b.expect(t, "*** ann left lobby")
	c.expect(t, "*** ann left lobby")
	// Whether a join creates the room is known once the other nodes see
	// ann there (the registry's lag).
	enginetest.CheckFor(t, 5*time.Second, func() bool { _, n := nodes[1].cl.Roster("games", nil); return n == 1 }, "ann in games, seen from node 1")
	b.send(t, "/join games")
	b.expect(t, "*** bob joined games")
	a.expect(t, "*** bob joined games")
	c.expect(t, "*** bob left lobby")
	waitSubscribed(t, nodes[:2], "games")
	in := nodes[2].cl.Stats().MsgsIn.Load()

	a.send(t, "/me waves")
	a.expect(t, "* ann waves")
	b.expect(t, "* ann waves")
	b.send(t, "hi ann")
	b.expect(t, "[bob]: hi ann")
	a.expect(t, "[bob]: hi ann")
	c.send(t, "anyone?")
	c.expect(t, "[cat]: anyone?")
	c.quiet(t)
	if got := nodes[2].cl.Stats().MsgsIn.Load(); got != in {
		t.Errorf("node 2, with nobody in games, received %d messages for it", got-in)
	}
	a.quiet(t)
	b.quiet(t)
}

// Whispers reach their target on another node; unknown names are still
// errors.
func TestWhisperAcrossNodes(t *testing.T) {
	_, nodes := startCluster(t, 3)
	a := dial(t, nodes[0], "?name=Ann")
	a.expectPrefix(t, "You are connected!")
	c := dial(t, nodes[2], "?name=Cat")
	c.expectPrefix(t, "You are connected!")
	waitUsers(t, nodes, 2)

	a.send(t, "/w cat psst")
	a.expect(t, "[Ann -> Cat]: psst")
	c.expect(t, "[Ann -> Cat]: psst")
	c.send(t, "/whisper ANN back")
	c.expect(t, "[Cat -> Ann]: back")
	a.expect(t, "[Cat -> Ann]: back")
	a.send(t, "/w nobody hi")
	a.expect(t, `error: no user named "nobody"`)
	for i, n := range nodes {
		if i != 1 {
			enginetest.CheckFor(t, time.Second, func() bool { return n.hub.Stats().Whispers.Load() == 1 }, "one whisper delivered by node "+n.cl.ID())
		}
	}
}

// Each node's history holds the other nodes' messages too.
func TestHistoryAcrossNodes(t *testing.T) {
	_, nodes := startCluster(t, 2)
	a := dial(t, nodes[0], "?name=ann")
	a.expectPrefix(t, "You are connected!")
	b := dial(t, nodes[1], "?name=bob")
	b.expectPrefix(t, "You are connected!")
	waitSubscribed(t, nodes, "lobby")
	a.send(t, "one")
	a.expect(t, "[ann]: one")
	b.expect(t, "[ann]: one")
	b.send(t, "two")
	b.expect(t, "[bob]: two")
	a.expect(t, "[bob]: two")
	for _, cl := range []*client{a, b} {
		cl.send(t, "/history")
		cl.expectPrefix(t, "*** history of lobby")
		cl.expect(t, "[ann]: one")
		cl.expect(t, "[bob]: two")
		cl.expect(t, "*** end of history")
	}
}
