//go:build !race

package bench

import (
	"math"
	"testing"
	"time"

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

// A staged mix's users send and receive without allocating either: echo
// and chat, text and JSON, broadcasts and whispers.
func TestNoAllocMix(t *testing.T) {
	l, c := testLoop(t, Config{Scenario: Mixed, Stages: []Stage{{Duration: 0, Target: 100}, {Duration: time.Hour, Target: 100}},
		Mix: &Mix{Echo: 0.5, Chat: 0.5, Whisper: 0.5}})
	p := l.w.pilot
	start := l.w.startAt.Load()
	p.begin(start) // every slot open from the start
	now := start + int64(1500*time.Millisecond)
	l.mixAdvance(now)
	p.learn(9, []byte("user9"), start)
	c.id, c.next = 3, now
	c.mx = &mixConn{kind: kindChat, room: true, closeAt: math.MaxInt64, b0: 0, b1: math.MaxInt64}
	echo := &conn{l: l, gc: &fakeConn{}, state: stateOpen, id: 4, idx: -1, hidx: -1, dec: codec.Decoder{Role: codec.RoleClient},
		mx: &mixConn{kind: kindEcho, closeAt: math.MaxInt64}}
	pay := newChatPayload(64)
	stampChat(pay, kindBroadcast, 7, 1, noTarget, now)
	text := codec.AppendFrame(nil, true, codec.OpText, append([]byte("[user7]: "), pay...), nil)
	json := codec.AppendFrame(nil, true, codec.OpText, append(append([]byte(`{"type":"message","room":"lobby","from":"user7","text":"`), pay...), `"}`...), nil)
	ep := newEchoPayload(64)
	stampEcho(ep, now, 0)
	echo.seq = 1 // sent
	reply := codec.AppendFrame(nil, true, codec.OpBinary, ep, nil)
	l.consume(c, text, now) // learns user7's name: once
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"text delivery", func() { l.consume(c, text, now) }},
		{"JSON delivery", func() { c.mx.json = true; l.consume(c, json, now); c.mx.json = false }},
		{"echo reply", func() { echo.inflight = 1; l.consume(echo, reply, now) }},
		{"chat send (text, whispers)", func() { l.mixSend(c) }},
		{"chat send (JSON, whispers)", func() { c.mx.json = true; l.mixSend(c); c.mx.json = false }},
		{"echo send", func() { echo.next = now; l.mixSend(echo) }},
	} {
		if allocs := testing.AllocsPerRun(200, tc.f); allocs != 0 {
			t.Errorf("%s: %v allocations", tc.name, allocs)
		}
	}
	st := l.mx.st
	if st.chatRecv == 0 || st.echoRecv == 0 || st.whisperSent == 0 || st.chatSent == st.whisperSent || st.echoSent == 0 {
		t.Fatalf("counts %+v: want deliveries, echoes, broadcasts and whispers", st)
	}
	if s := l.mx.bucket(1); s == nil || s.Recv == 0 || s.SentW == 0 || s.Sent == 0 {
		t.Fatalf("second 1: %+v", s)
	}
}
