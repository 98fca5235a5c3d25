package cluster_test

import (
	"fmt"
	"testing"
	"time"
)

// Users who have just been welcomed into a room on one node get the very
// next broadcast from another node, even when they brought the room to
// that node (its subscription is new): the welcome waits for nothing that
// could lose it. Many rounds, each in a fresh room, exact counts.
func TestColdStartDelivery(t *testing.T) {
	_, nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	const rounds, members = 60, 1
	for r := 0; r < rounds; r++ {
		room := fmt.Sprintf("cold%d", r)
		sender := dial(t, a, fmt.Sprintf("?name=s%d&room=%s", r, room))
		sender.expectPrefix(t, "You are connected!")
		var cls []*client
		for j := 0; j < members; j++ {
			cl := dial(t, b, fmt.Sprintf("?name=c%d-%d&room=%s", r, j, room))
			cl.expectPrefix(t, "You are connected!")
			cls = append(cls, cl)
		}
		msg := fmt.Sprintf("first%d", r)
		sender.send(t, msg)
		sender.expect(t, fmt.Sprintf("[s%d]: %s", r, msg))
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
		for _, cl := range cls {
			cl.c.Close()
		}
	}
}
