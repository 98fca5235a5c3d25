//go:build !race

package bench

import (
	"testing"

	"edgews/codec"
)

// The receive path decodes in place and the send path stamps a template:
// no allocation per message, first copy or duplicate.
func TestNoAllocEchoReceive(t *testing.T) {
	l, c := testLoop(t, Config{Scenario: Echo, Conns: 1, InFlight: 3, Payload: 128})
	// Replies to the 3 requests begin sent, then a duplicate and a ping.
	var buf []byte
	for q := range uint32(3) {
		p := newEchoPayload(128)
		stampEcho(p, nowNanos(), q)
		buf = codec.AppendFrame(buf, true, codec.OpBinary, p, nil)
	}
	buf = codec.AppendFrame(buf, true, codec.OpPing, []byte("hb"), nil)
	allocs := testing.AllocsPerRun(200, func() {
		l.out = l.out[:0]
		n, closed := l.consume(c, buf, nowNanos())
		if n != len(buf) || closed {
			t.Fatalf("consumed %d of %d, closed %v", n, len(buf), closed)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per read of 3 echoes and a ping", allocs)
	}
	// The first read's replies were first copies, each sending the next;
	// every later read's the same sequence numbers again: duplicates.
	if l.st.EchoFirst != 3 || l.st.EchoDup != 3*200 || l.st.Sent != 6 {
		t.Fatalf("first %d dup %d sent %d: want 3 first copies sending 3 more, the rest duplicates", l.st.EchoFirst, l.st.EchoDup, l.st.Sent)
	}
}

// chatFrames returns n relayed broadcasts from sender user id, sequence
// numbers 0..n-1.
func chatFrames(id, n int) [][]byte {
	var out [][]byte
	for q := range n {
		p := newChatPayload(64)
		stampChat(p, kindBroadcast, uint32(id), uint32(q), noTarget, nowNanos())
		out = append(out, codec.AppendFrame(nil, true, codec.OpText, append([]byte("[user7]: "), p...), nil))
	}
	return out
}

func TestNoAllocChatReceive(t *testing.T) {
	l, c := testLoop(t, Config{Scenario: Chat, Conns: 100, TalkRate: 1000, WhisperFrac: 0.5})
	from := l.w.cfg.senderUser(1)
	frames := chatFrames(from, 500)
	l.consume(c, frames[0], nowNanos()) // learns user7's name: once
	i := 1
	allocs := testing.AllocsPerRun(200, func() {
		l.consume(c, frames[i], nowNanos()) // a first copy
		l.consume(c, frames[i], nowNanos()) // its duplicate
		i++
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per delivery", allocs)
	}
	if id, got := l.w.pickName(l.rng, 0); string(got) != "user7" || id != from {
		t.Fatalf("learned name %q of user %d, want user7 of %d", got, id, from)
	}
	p := l.pairs[0]
	if p.First != int64(i) || p.Duplicated != int64(i-1) || p.Extra != 0 {
		t.Fatalf("pair = %+v, want %d first copies and %d duplicates", p, i, i-1)
	}
}

func TestNoAllocChatSend(t *testing.T) {
	l, c := testLoop(t, Config{Scenario: Chat, Conns: 100, TalkRate: 1000, WhisperFrac: 0.5})
	name := []byte("user9")
	l.w.names[9].Store(&name)
	l.w.named = append(l.w.named, 9)
	allocs := testing.AllocsPerRun(200, func() {
		l.out = l.out[:0]
		l.appendChat(c, nowNanos(), nowNanos())
		c.tx.tt.advance()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per chat send (broadcasts and whispers)", allocs)
	}
	whispers := 0
	for _, to := range c.tx.to {
		if to == 9 {
			whispers++
		}
	}
	if l.st.Sent == 0 || whispers == 0 || whispers == int(l.st.Sent) {
		t.Fatalf("sent %d, %d whispers: want both whispers and broadcasts", l.st.Sent, whispers)
	}
}

// BenchmarkEchoReceive is one closed-loop echo reply, a first copy: its
// window, its latency, the next request.
func BenchmarkEchoReceive(b *testing.B) {
	l, c := testLoop(b, Config{Scenario: Echo, Conns: 1, Payload: 64})
	p := newEchoPayload(64)
	buf := codec.AppendFrame(nil, true, codec.OpBinary, p, nil)
	hl := len(buf) - len(p)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	var q uint32
	for b.Loop() {
		stampEcho(buf[hl:], nowNanos(), q) // the reply to the request sent last
		q++
		l.out = l.out[:0]
		l.consume(c, buf, nowNanos())
	}
	if l.st.EchoFirst != int64(q) {
		b.Fatalf("%d first copies of %d replies", l.st.EchoFirst, q)
	}
}

// BenchmarkChatReceive is one broadcast delivery: parse, window, counts.
func BenchmarkChatReceive(b *testing.B) {
	l, c := testLoop(b, Config{Scenario: Broadcast, Conns: 1000, Senders: 20, Rate: 1e6})
	frames := chatFrames(l.w.cfg.senderUser(3), 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(frames[0])))
	i := 0
	for b.Loop() {
		l.consume(c, frames[i%len(frames)], nowNanos())
		i++
	}
}
