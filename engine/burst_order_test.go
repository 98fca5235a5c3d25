package engine

import (
	"fmt"
	"strings"
	"testing"

	"edgews/codec"
)

// orderTask writes two numbered messages: one shared (WriteShared, from a
// buffer poisoned at Done, as a released pool buffer would be reused) and
// one with Send (copied into the loop's arena).
type orderTask struct {
	c      *Conn
	i      int
	shared []byte
}

func orderText(i int, kind string, n int) string {
	s := fmt.Sprintf("%s %06d ", kind, i)
	return s + strings.Repeat(string(rune('a'+i%26)), n-len(s))
}

func (t *orderTask) Run(*Loop) {
	t.shared = codec.AppendFrame(t.shared[:0], true, codec.OpText, []byte(orderText(t.i, "shared", 3900)), nil)
	_ = t.c.WriteShared(t.shared)
	_ = t.c.Send(codec.OpText, []byte(orderText(t.i, "send", 200+t.i%3000)))
}

func (t *orderTask) Done() {
	for i := range t.shared {
		t.shared[i] = 0xff // FIN, every RSV bit, a reserved opcode
	}
}

// TestBurstKeepsOrder: one batch of tasks queues more than MaxOutboundBytes
// for a connection that takes everything, so its pending frames are handed
// to the socket early (Conn.enqueue's flushConn), and more than the arena
// holds, so the arena is flushed and reused within the batch. Every frame
// arrives whole, once, in the order written, and none carries the poison
// its shared buffer gets at Done.
func TestBurstKeepsOrder(t *testing.T) {
	p := NewInProc(Config{MaxOutboundBytes: 1 << 20}, 1)
	p.Server().Handle("/echo", fuzzEcho{})
	c, err := p.Open("/echo", 0, true)
	if err != nil {
		t.Fatal(err)
	}
	p.Received(c) // anything OnOpen wrote
	const n = 600 // 2.3 MB shared, 1 MB sent
	for i := range n {
		_ = c.loop.Post(&orderTask{c: c, i: i})
	}
	p.Drain()
	if p.Closed(c) || p.srv.Stats().SlowConsumers != 0 {
		t.Fatalf("closed %v, SlowConsumers %d: a peer that takes everything is not slow", p.Closed(c), p.srv.Stats().SlowConsumers)
	}
	got := p.Received(c)
	if len(got) != 2*n {
		t.Fatalf("received %d messages, want %d", len(got), 2*n)
	}
	for i := range n {
		if want := orderText(i, "shared", 3900); got[2*i] != want {
			t.Fatalf("message %d: %.20q..., want %.20q...", 2*i, got[2*i], want)
		}
		if want := orderText(i, "send", 200+i%3000); got[2*i+1] != want {
			t.Fatalf("message %d: %.20q..., want %.20q...", 2*i+1, got[2*i+1], want)
		}
	}
}
