//go:build !race

package hub_test

import (
	"testing"

	"edgews/codec"
	"edgews/engine"
)

// A chat broadcast costs no allocation once the pools are warm: the frame
// is encoded once into a pooled buffer, one pooled task per loop, shared
// writes to every member.
func TestBroadcastAllocs(t *testing.T) {
	p, _ := newChat(t, 2)
	var members []*engine.Conn
	for i := 0; i < 101; i++ {
		c, err := p.Open("/chat", i%2, false) // counting, not capturing
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, c)
	}
	sender := members[0]
	msg := []byte("hello everyone")
	p.Message(sender, codec.OpText, msg)
	p.Drain()
	allocs := testing.AllocsPerRun(1000, func() {
		p.Message(sender, codec.OpText, msg)
		p.Drain()
	})
	if p.Written(members[100]) == 0 {
		t.Fatal("nothing delivered")
	}
	if allocs != 0 {
		t.Fatalf("broadcast to 101 members: %v allocs, want 0", allocs)
	}
}
