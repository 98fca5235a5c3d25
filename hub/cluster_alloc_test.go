//go:build !race

package hub_test

import (
	"testing"

	"edgews/codec"
	"edgews/hub"
)

// In a cluster, a broadcast also hands one wire message to the cluster
// (no allocation), and a message from another node is encoded once per
// format and fanned out like a local broadcast: no allocation either,
// however many members.
func TestClusterAllocs(t *testing.T) {
	cl := &tap{}
	p, h := newChatConfig(t, 2, hub.Config{Shards: 4, Cluster: cl})
	members := openMixed(t, p, 101)
	p.Drain()
	sender := members[0]
	msg := []byte("hello everyone")
	p.Message(sender, codec.OpText, msg)
	p.Drain()
	published := cl.n
	allocs := testing.AllocsPerRun(1000, func() {
		p.Message(sender, codec.OpText, msg)
		p.Drain()
	})
	if cl.n == published {
		t.Fatal("nothing published to the cluster")
	}
	if allocs != 0 {
		t.Fatalf("clustered broadcast to 101 members: %v allocs, want 0", allocs)
	}

	wire := append([]byte(nil), cl.last...)
	before := [2]int64{p.Written(members[99]), p.Written(members[100])}
	h.Receive(wire)
	p.Drain()
	allocs = testing.AllocsPerRun(1000, func() {
		h.Receive(wire)
		p.Drain()
	})
	if p.Written(members[99]) == before[0] || p.Written(members[100]) == before[1] {
		t.Fatal("a message from another node was not delivered to both formats")
	}
	if allocs != 0 {
		t.Fatalf("message from another node to 101 members: %v allocs, want 0", allocs)
	}
}

// connectAllocs is the mean number of allocations of one /chat connect
// and disconnect on a hub joined to cl (nil: alone).
func connectAllocs(t *testing.T, cl hub.Cluster) float64 {
	p, _ := newChatConfig(t, 2, hub.Config{Shards: 4, Cluster: cl})
	openMixed(t, p, 64) // the room, its maps and the loop's lists exist
	p.Drain()
	return testing.AllocsPerRun(500, func() {
		c, err := p.Open("/chat", 0, false)
		if err != nil {
			t.Fatal(err)
		}
		p.Drain()
		p.Disconnect(c)
		p.Drain()
	})
}

// A connect in a cluster allocates at most two objects more than one
// alone: the claim (one object from the claim to the room, see
// hub.Claimant) and the loop's task wake-up. Garbage made while
// connections arrive lands among their long-lived state and stays paid
// for in memory after it is freed (docs/deploy.md, 8. Cluster over NATS,
// Sizing). It was five objects more before (two closures, the arrival, the
// claim's task and the subscription's task).
func TestClusterConnectAllocs(t *testing.T) {
	alone := connectAllocs(t, nil)
	clustered := connectAllocs(t, &tap{})
	t.Logf("allocations per /chat connect and disconnect: %.1f alone, %.1f in a cluster", alone, clustered)
	if clustered > alone+2 {
		t.Fatalf("a clustered connect allocates %.1f objects more than one alone, want at most 2", clustered-alone)
	}
}
