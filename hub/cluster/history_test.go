package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"edgews/engine/enginetest"
	"edgews/hub"
	"edgews/hub/cluster"
	"edgews/hub/cluster/clustertest"
)

// startHistoryNode runs a node whose history is the cluster's (a
// JetStream stream shared by the nodes).
func startHistoryNode(t *testing.T, url, id string) *node {
	t.Helper()
	n := startHistoryNodeWith(t, cluster.Config{URLs: url, NodeID: id, TTL: testTTL, OpTimeout: time.Second}, nil)
	enginetest.CheckFor(t, 10*time.Second, n.cl.Healthy, "node "+id+" healthy")
	return n
}

// startHistoryNodeWith is startHistoryNode with cfg; beforeHub, if not
// nil, runs once the stream is set up, before the hub (which attaches the
// history: its consumer) is.
func startHistoryNodeWith(t *testing.T, cfg cluster.Config, beforeHub func()) *node {
	t.Helper()
	cl, err := cluster.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{cl: cl}
	t.Cleanup(func() { n.close(t) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs, err := cl.NewHistory(ctx, cluster.HistoryConfig{PerRoom: 50})
	if err != nil {
		t.Fatal(err)
	}
	if beforeHub != nil {
		beforeHub()
	}
	n.hist = hs
	return startNodeOf(t, cl, hub.Config{Shards: 4, Cluster: cl, History: 50, Sequencer: hs}, 2, n)
}

// chatEvent is a message, me or history event.
type chatEvent struct {
	Type     string      `json:"type"`
	Room     string      `json:"room"`
	From     string      `json:"from"`
	Text     string      `json:"text"`
	Offset   uint64      `json:"offset"`
	Epoch    string      `json:"epoch"`
	Reset    bool        `json:"reset"`
	Messages []chatEvent `json:"messages"`
}

// nextOf reads cl's events until one of type typ (others are skipped).
func (cl *client) nextOf(t *testing.T, typ string) chatEvent {
	t.Helper()
	for {
		var ev chatEvent
		if s := cl.next(t); json.Unmarshal([]byte(s), &ev) != nil {
			t.Fatalf("not JSON: %q", s)
		}
		if ev.Type == typ {
			return ev
		}
	}
}

// described is "offset:from:text" for each message.
func described(evs []chatEvent) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, fmt.Sprintf("%d:%s:%s", ev.Offset, ev.From, ev.Text))
	}
	return out
}

// With the cluster's history, every node gives a room's messages the same
// offsets and epoch, whichever node they were said on; a client resumes
// on another node without a gap; and a node started later (as after a
// restart) has the history from the stream, with the same offsets.
func TestSharedHistoryAcrossNodes(t *testing.T) {
	ns := clustertest.StartNATS(t).URL()
	a := startHistoryNode(t, ns, "a")
	b := startHistoryNode(t, ns, "b")
	alice := dial(t, a, "?name=alice", hub.ProtocolJSON)
	bob := dial(t, b, "?name=bob", hub.ProtocolJSON)
	if h := alice.nextOf(t, "history"); len(h.Messages) != 0 || h.Epoch != "" {
		t.Fatalf("alice's first history: %+v", h)
	}
	bob.nextOf(t, "history")
	carl := dial(t, a, "?name=carl")
	dave := dial(t, b, "?name=dave")
	carl.expectPrefix(t, "You are connected!")
	dave.expectPrefix(t, "You are connected!")
	for i, talker := range []*client{carl, dave, carl, dave} {
		talker.send(t, fmt.Sprint("m", i+1))
	}
	var seenA, seenB []chatEvent
	for range 4 {
		seenA = append(seenA, alice.nextOf(t, "message"))
		seenB = append(seenB, bob.nextOf(t, "message"))
	}
	if !slices.Equal(described(seenA), described(seenB)) {
		t.Fatalf("node a: %v\nnode b: %v", described(seenA), described(seenB))
	}
	epoch := seenA[0].Epoch
	for i, ev := range seenA {
		if ev.Offset != uint64(i+1) || ev.Epoch != epoch || seenB[i].Epoch != epoch {
			t.Fatalf("message %d: %+v (b: %+v)", i, ev, seenB[i])
		}
	}

	// bob's connection drops; two more are said; he comes back on node a.
	bob.c.UnderlyingConn().Close()
	carl.send(t, "m5")
	dave.send(t, "m6")
	for range 2 {
		alice.nextOf(t, "message")
	}
	bob2 := dial(t, a, fmt.Sprintf("?name=bob2&since=4&epoch=%s", epoch), hub.ProtocolJSON)
	h := bob2.nextOf(t, "history")
	if h.Reset || h.Epoch != epoch || len(h.Messages) != 2 || h.Messages[0].Offset != 5 || h.Messages[1].Offset != 6 {
		t.Fatalf("resumed on another node: %+v", h)
	}
	late := h.Messages // m5 and m6, in the order the stream has them

	// A node started now rebuilds the history from the stream.
	c := startHistoryNode(t, ns, "c")
	enginetest.CheckFor(t, 5*time.Second, func() bool { return c.hub.History().(*hub.MemoryHistory).Len() == 6 }, "node c's mirror filled")
	erin := dial(t, c, "", hub.ProtocolJSON)
	h = erin.nextOf(t, "history")
	if h.Epoch != epoch || len(h.Messages) != 6 || !slices.Equal(described(h.Messages), append(described(seenA), described(late)...)) {
		t.Fatalf("history on a new node: %+v", h)
	}
	carl.send(t, "m7")
	if ev := erin.nextOf(t, "message"); ev.Offset != 7 || ev.Epoch != epoch {
		t.Fatalf("live on the new node: %+v", ev)
	}
}

// Talkers on two nodes at once: the nodes store in turn (compare and set
// on the room's last message), and both nodes' members get every message
// once, offsets consecutive, in the same order.
func TestSharedHistoryConcurrentNodes(t *testing.T) {
	ns := clustertest.StartNATS(t).URL()
	a := startHistoryNode(t, ns, "a")
	b := startHistoryNode(t, ns, "b")
	watchA := dial(t, a, "?room=r", hub.ProtocolJSON)
	watchB := dial(t, b, "?room=r", hub.ProtocolJSON)
	watchA.nextOf(t, "history")
	watchB.nextOf(t, "history")
	const each = 20
	var talkers []*client
	for i, n := range []*node{a, b, a, b} {
		cl := dial(t, n, fmt.Sprintf("?name=t%d&room=r", i))
		cl.expectPrefix(t, "You are connected!")
		talkers = append(talkers, cl)
	}
	var joiners []*client
	for k := range each {
		if k%4 == 2 { // users enter while the talk goes on, on both nodes
			for range 2 {
				joiners = append(joiners, dial(t, a, "?room=r", hub.ProtocolJSON), dial(t, b, "?room=r", hub.ProtocolJSON))
			}
		}
		for i, cl := range talkers {
			cl.send(t, fmt.Sprintf("t%d-%d", i, k))
		}
	}
	total := each * len(talkers)
	var gotA, gotB []chatEvent
	for i := range total {
		if i == 0 {
			t.Cleanup(func() {
				if t.Failed() {
					for _, n := range []*node{a, b} {
						st := n.hist.Stats()
						t.Logf("%s: stored %d, conflicts %d, dropped %d", n.cl.ID(), st.Stored.Load(), st.Conflicts.Load(), st.Dropped.Load())
					}
				}
			})
		}
		gotA = append(gotA, watchA.nextOf(t, "message"))
		gotB = append(gotB, watchB.nextOf(t, "message"))
	}
	if !slices.Equal(described(gotA), described(gotB)) {
		t.Fatalf("the nodes disagree:\na: %v\nb: %v", described(gotA), described(gotB))
	}
	for i, ev := range gotA {
		if ev.Offset != uint64(i+1) {
			t.Fatalf("message %d has offset %d: %v", i, ev.Offset, described(gotA))
		}
	}
	// Each joiner got every message from its history's first on, once,
	// offsets consecutive: the boundary holds on a mirror too.
	for i, j := range joiners {
		h := j.nextOf(t, "history")
		offs := []uint64{}
		for _, m := range h.Messages {
			offs = append(offs, m.Offset)
		}
		for len(offs) == 0 || offs[len(offs)-1] < uint64(total) {
			offs = append(offs, j.nextOf(t, "message").Offset)
		}
		for k := 1; k < len(offs); k++ {
			if offs[k] != offs[k-1]+1 {
				t.Fatalf("joiner %d: offset %d after %d (history of %d): %v", i, offs[k], offs[k-1], len(h.Messages), offs)
			}
		}
		if len(h.Messages) > 0 && h.Messages[0].Offset != 1 && len(h.Messages) != 50 {
			t.Fatalf("joiner %d: history of %d from %d", i, len(h.Messages), h.Messages[0].Offset)
		}
	}
	t.Logf("conflicts: a %d, b %d", a.hist.Stats().Conflicts.Load(), b.hist.Stats().Conflicts.Load())
}
