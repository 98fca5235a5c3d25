//go:build !race

package hub_test

import (
	"testing"

	"edgews/codec"
	"edgews/engine"
	"edgews/hub"
)

// A chat broadcast costs no allocation once the pools are warm: the frame
// is encoded once into a pooled buffer, one pooled task per loop, shared
// writes to every member.
func TestBroadcastAllocs(t *testing.T) {
	p, _ := newChat(t, 2)
	broadcastAllocs(t, p)
}

// Over TLS too: each member's record is sealed in the loop's scratch
// (members busy since the last sweep keep their AEADs).
func TestBroadcastAllocsTLS(t *testing.T) {
	p, _ := newTLSChat(t, 2)
	broadcastAllocs(t, p)
}

func broadcastAllocs(t *testing.T, p *engine.InProc) {
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
	p.Sweep() // on TLS, the members are busy from now on: AEADs kept
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

// Broadcasts in a room mixing text and JSON members cost no allocation
// either: one frame per format, whoever sends, and a JSON client's command
// is parsed in place (escaped text is unescaped into a reused buffer).
func TestBroadcastAllocsJSON(t *testing.T) {
	tests := []struct {
		name       string
		senderJSON bool
		msg        string
		rate       float64 // hub.Config.Rate: the limiter runs, never refuses
	}{
		{"text sender", false, "hello everyone", 0},
		{"text sender, text to escape", false, `say "hi"` + "\n\tbye", 0},
		{"JSON sender", true, `{"type":"message","text":"hello everyone"}`, 0},
		{"JSON sender, escapes", true, `{"type":"message","text":"say \"hi\"\n\u00e9 \ud83d\ude00"}`, 0},
		{"JSON sender, escaped keys and other fields", true, `{"t\u0079pe":"message","id":7,"meta":{"a":[1]},"text":"hello everyone"}`, 0},
		{"JSON sender, plain line", true, "hello everyone", 0},
		{"JSON sender, me", true, `{"type":"me","text":"waves"}`, 0},
		{"rate limited sender", true, `{"type":"message","text":"hi"}`, 1e9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := newChatConfig(t, 2, hub.Config{Rate: tt.rate, Burst: 1e9})
			members := openMixed(t, p, 101)
			p.Drain()
			sender := members[0]
			if tt.senderJSON {
				sender = members[1]
			}
			msg := []byte(tt.msg)
			p.Message(sender, codec.OpText, msg)
			p.Drain()
			before := [2]int64{p.Written(members[99]), p.Written(members[100])}
			allocs := testing.AllocsPerRun(1000, func() {
				p.Message(sender, codec.OpText, msg)
				p.Drain()
			})
			if p.Written(members[99]) == before[0] || p.Written(members[100]) == before[1] {
				t.Fatal("not delivered to both formats")
			}
			if allocs != 0 {
				t.Fatalf("broadcast to 101 members, mixed formats: %v allocs, want 0", allocs)
			}
		})
	}
}

// With history on, a broadcast still costs no allocation once warm: the
// message is stored in a recycled entry (the room's oldest goes back to
// the store's free lists) and its offset is encoded in place.
func TestBroadcastAllocsHistory(t *testing.T) {
	p, _ := newChatConfig(t, 2, hub.Config{History: 50})
	members := openMixed(t, p, 101)
	for _, s := range []string{"hello everyone", `{"type":"message","text":"hello everyone"}`} {
		sender := members[0]
		if s[0] == '{' {
			sender = members[1]
		}
		msg := []byte(s)
		for range 60 { // past the room's 50: the store recycles
			p.Message(sender, codec.OpText, msg)
		}
		p.Drain()
		before := p.Written(members[100])
		allocs := testing.AllocsPerRun(1000, func() {
			p.Message(sender, codec.OpText, msg)
			p.Drain()
		})
		if p.Written(members[100]) == before {
			t.Fatal("nothing delivered")
		}
		if allocs != 0 {
			t.Fatalf("%s: broadcast with history: %v allocs, want 0", s, allocs)
		}
	}
}

// Storing a message in a full store allocates nothing: the entry evicted
// to make room is reused.
func TestMemoryHistoryAppendAllocs(t *testing.T) {
	s := hub.NewMemoryHistory(hub.MemoryHistoryConfig{PerRoom: 50})
	text := []byte("a chat line of a typical length, about sixty bytes long....")
	rooms := []string{"a", "b", "c"}
	for i := range 200 {
		s.Append(rooms[i%3], 0, 0, "alice", text, 1)
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		s.Append(rooms[i%3], 0, hub.MessageFlags(i%2), "alice", text[:20+i%40], 1)
		i++
	})
	if allocs != 0 {
		t.Fatalf("Append: %v allocs, want 0", allocs)
	}
	if s.Len() != 150 {
		t.Fatalf("Len = %d, want 150", s.Len())
	}
}

// A compressed broadcast costs no allocation either: each format is
// compressed once into a pooled buffer with a pooled deflater, and the
// twin is shared like the plain frame.
func TestCompressedBroadcastAllocs(t *testing.T) {
	p, h := newCompressedChat(t, 2)
	members := openMembers(t, p, 101, func(i int) []string {
		hdr := []string{deflateHeader}[:i%4/2^1] // half of each format compressed
		if i%2 == 1 {
			hdr = append(hdr, jsonHeader)
		}
		return hdr
	})
	sender := members[0]
	msg := []byte(chatText(1000))
	p.Message(sender, codec.OpText, msg)
	p.Drain()
	before := h.Stats().Compressed.Load()
	allocs := testing.AllocsPerRun(1000, func() {
		p.Message(sender, codec.OpText, msg)
		p.Drain()
	})
	if h.Stats().Compressed.Load() == before {
		t.Fatal("nothing compressed")
	}
	if allocs != 0 {
		t.Fatalf("compressed broadcast to 101 members: %v allocs, want 0", allocs)
	}
}

// openMixed opens n /chat members spread over two loops, the odd ones
// speaking JSON (jsonHeader), the even ones text: members[0] is a text
// sender, members[1] a JSON one.
func openMixed(t *testing.T, p *engine.InProc, n int) []*engine.Conn {
	t.Helper()
	members := make([]*engine.Conn, 0, n)
	for i := 0; i < n; i++ {
		var hdr []string
		if i%2 == 1 {
			hdr = append(hdr, jsonHeader)
		}
		c, err := p.Open("/chat", i%2, false, hdr...)
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, c)
	}
	return members
}
