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
		{"JSON sender, plain line", true, "hello everyone", 0},
		{"JSON sender, me", true, `{"type":"me","text":"waves"}`, 0},
		{"rate limited sender", true, `{"type":"message","text":"hi"}`, 1e9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := newChatConfig(t, 2, hub.Config{Rate: tt.rate, Burst: 1e9})
			var members []*engine.Conn
			for i := 0; i < 101; i++ {
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
