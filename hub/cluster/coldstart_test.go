package cluster_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"edgews/hub/cluster"
	"edgews/hub/cluster/clustertest"
)

// Users who have just been welcomed into a room on one node, or have
// just joined it, get the very next broadcast from another node, even
// when they brought the room to that node (its subscription is new).
// Many rounds, each in a fresh room, exact counts.
func TestColdStartDelivery(t *testing.T) {
	_, nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	const rounds, members = 80, 1
	// Members that move from room to room with /join: in even rounds the
	// member connects into the room, in odd ones it joins it.
	var joiner []*client
	for j := 0; j < 2; j++ {
		cl := dial(t, b, fmt.Sprintf("?name=j%d", j))
		cl.expectPrefix(t, "You are connected!")
		joiner = append(joiner, cl)
	}
	for r := 0; r < rounds; r++ {
		room := fmt.Sprintf("cold%d", r)
		sender := dial(t, a, fmt.Sprintf("?name=s%d&room=%s", r, room))
		sender.expectPrefix(t, "You are connected!")
		var cls []*client
		var notices []string
		for j := 0; j < members; j++ {
			if r%2 == 0 { // connects into the room
				cl := dial(t, b, fmt.Sprintf("?name=c%d-%d&room=%s", r, j, room))
				cl.expectPrefix(t, "You are connected!")
				cls = append(cls, cl)
				continue
			}
			cl := joiner[r/2%len(joiner)] // joins from the lobby (or the room before)
			cl.send(t, "/join "+room)
			joined := fmt.Sprintf("*** j%d joined %s", r/2%len(joiner), room)
			for { // past the other joiner's leaving the lobby
				if line := cl.next(t); strings.HasPrefix(line, joined) {
					break
				} else if !strings.Contains(line, " left ") {
					t.Fatalf("round %d: got %q, want %q", r, line, joined)
				}
			}
			notices = append(notices, joined) // the sender reads it later
			cls = append(cls, cl)
		}
		msg := fmt.Sprintf("first%d", r)
		sender.send(t, msg) // at once: not after the join notice reached it
		echo := fmt.Sprintf("[s%d]: %s", r, msg)
		for range len(notices) + 1 { // in either order
			got := sender.next(t)
			if got != echo && !slices.ContainsFunc(notices, func(n string) bool { return strings.HasPrefix(got, n) }) {
				t.Fatalf("round %d: sender got %q, want %q or %q", r, got, echo, notices)
			}
		}
		want := fmt.Sprintf("[s%d]: %s", r, msg)
		for j, cl := range cls {
			select {
			case got := <-cl.in:
				if got != want {
					t.Fatalf("round %d, member %d: got %q, want %q", r, j, got, want)
				}
			case <-time.After(3 * time.Second):
				// The drop counters say where it was lost: none of them
				// counts a message NATS had no subscriber for.
				t.Fatalf("round %d, member %d: %q never arrived (node a: out %d, dropped %d; node b: in %d, dropped %d, hub dropped %d)",
					r, j, want, a.cl.Stats().MsgsOut.Load(), a.cl.Stats().PubDropped.Load(),
					b.cl.Stats().MsgsIn.Load(), b.cl.Stats().InDropped.Load(), b.hub.Stats().ClusterDropped.Load())
			}
		}
		sender.c.Close()
		if r%2 == 0 {
			cls[0].c.Close()
		}
	}
}

// While NATS is away the welcome does not wait for the subscription: with
// an OpTimeout far beyond the test's 5 s wait, greetings into fresh rooms
// still come (nats.go sends the SUBs on reconnect).
func TestWelcomeDuringOutage(t *testing.T) {
	ns := clustertest.UnstartedNATS(t)
	n := startNodeWith(t, cluster.Config{URLs: ns.URL(), NodeID: "alone", TTL: testTTL, OpTimeout: time.Minute})
	for r := 0; r < 3; r++ {
		cl := dial(t, n, fmt.Sprintf("?name=o%d&room=out%d", r, r))
		cl.expectPrefix(t, "You are connected!")
		cl.send(t, "/join other"+strconv.Itoa(r))
		cl.expect(t, fmt.Sprintf("*** o%d joined other%d (new room)", r, r))
	}
}
