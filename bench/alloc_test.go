//go:build !race

package bench

import (
	"testing"

	"edgews/codec"
)

// The receive path decodes in place and the send path stamps a template:
// no allocation per message.
func TestNoAllocEchoReceive(t *testing.T) {
	l, c := testLoop(t, Config{Scenario: Echo, Conns: 1, InFlight: 3, Payload: 128})
	var buf []byte
	for range 3 {
		p := newEchoPayload(128)
		stampEcho(p, nowNanos())
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
	if l.st.recv == 0 || l.st.sent != l.st.recv {
		t.Fatalf("recv %d sent %d: each echo should send the next", l.st.recv, l.st.sent)
	}
}

func TestNoAllocChatReceive(t *testing.T) {
	l, c := testLoop(t, Config{Scenario: Chat, Conns: 100, WhisperFrac: 0.5})
	p := newChatPayload(64)
	stampChat(p, kindBroadcast, 7, 1, nowNanos())
	buf := codec.AppendFrame(nil, true, codec.OpText, append([]byte("[user7]: "), p...), nil)
	l.consume(c, buf, nowNanos()) // learns user7's name: once
	allocs := testing.AllocsPerRun(200, func() {
		l.consume(c, buf, nowNanos())
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per delivery", allocs)
	}
	if got := l.w.pickName(l.rng, 0); string(got) != "user7" {
		t.Fatalf("learned name %q", got)
	}
}

func TestNoAllocChatSend(t *testing.T) {
	l, c := testLoop(t, Config{Scenario: Chat, Conns: 100, WhisperFrac: 0.5})
	name := []byte("user9")
	l.w.names[9].Store(&name)
	l.w.named = append(l.w.named, 9)
	allocs := testing.AllocsPerRun(200, func() {
		l.sendChat(c, nowNanos())
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per chat send (broadcasts and whispers)", allocs)
	}
	if l.st.sent == 0 || sumTo(l.sentW, len(l.sentW)) == 0 || sumTo(l.sentB, len(l.sentB)) == 0 {
		t.Fatalf("sent %d: want both whispers and broadcasts", l.st.sent)
	}
}

func BenchmarkEchoReceive(b *testing.B) {
	l, c := testLoop(b, Config{Scenario: Echo, Conns: 1, Payload: 64})
	p := newEchoPayload(64)
	stampEcho(p, nowNanos())
	buf := codec.AppendFrame(nil, true, codec.OpBinary, p, nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		l.out = l.out[:0]
		l.consume(c, buf, nowNanos())
	}
}
