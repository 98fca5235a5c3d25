//go:build !race

package hub_test

import (
	"testing"
	"time"

	"edgews/codec"
	"edgews/hub"
)

// With mutes in force (of other users: by name, by sub, in this room and
// everywhere), a broadcast still costs no allocation: the mutes are one
// atomic load and map look-ups keyed by the sender's name lower-cased in a
// stack buffer. A mixed-case sender name takes the lower-casing path.
func TestBroadcastAllocsMuted(t *testing.T) {
	p, h := newChatConfig(t, 2, hub.Config{Shards: 4})
	sender, err := p.Open("/chat?name=MixedCase", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	members := openMixed(t, p, 100)
	until := time.Now().Add(time.Hour)
	h.SetMute(hub.Mute{Target: hub.Target{Name: "someone"}, Until: until})
	h.SetMute(hub.Mute{Target: hub.Target{Name: "mixedcase"}, Room: "elsewhere", Until: until})
	h.SetMute(hub.Mute{Target: hub.Target{User: "u-1"}, Room: hub.Lobby, Until: until})
	msg := []byte("hello everyone")
	p.Message(sender, codec.OpText, msg)
	p.Drain()
	before := p.Written(members[99])
	allocs := testing.AllocsPerRun(1000, func() {
		p.Message(sender, codec.OpText, msg)
		p.Drain()
	})
	if p.Written(members[99]) == before {
		t.Fatal("nothing delivered: the sender is muted?")
	}
	if allocs != 0 {
		t.Fatalf("broadcast with mutes in force: %v allocs, want 0", allocs)
	}
	if h.Stats().Muted.Load() != 0 {
		t.Fatal("a message was refused")
	}
}

// copySink keeps the last event in a reused buffer: the hub's side of
// the events, measured without a sink's own costs (hub/webhook has its
// own allocation test).
type copySink struct {
	last []byte
	n    int
}

func (s *copySink) Event(_, _ string, obj []byte) { s.last = append(s.last[:0], obj...); s.n++ }

// With events on, a broadcast makes its message event with no allocation
// either, with history on (offset and epoch) and off.
func TestBroadcastAllocsEvents(t *testing.T) {
	for _, history := range []int{0, 50} {
		s := &copySink{}
		p, _ := newChatConfig(t, 2, hub.Config{Shards: 4, History: history, Backend: hub.BackendConfig{NodeID: "n1", Events: s}})
		members := openMixed(t, p, 101)
		sender := members[1]
		msg := []byte(`{"type":"message","text":"hello \"everyone\""}`)
		for range 60 {
			p.Message(sender, codec.OpText, msg)
		}
		p.Drain()
		n := s.n
		allocs := testing.AllocsPerRun(1000, func() {
			p.Message(sender, codec.OpText, msg)
			p.Drain()
		})
		if s.n < n+1000 {
			t.Fatalf("history %d: %d events for 1000 messages", history, s.n-n)
		}
		if allocs != 0 {
			t.Fatalf("history %d: broadcast with events on: %v allocs, want 0", history, allocs)
		}
	}
}

// A notice is a broadcast like any other: no allocation per delivery
// (one []byte copy of the text per call, for all its rooms).
func TestNoticeAllocs(t *testing.T) {
	p, h := newChatConfig(t, 2, hub.Config{Shards: 4})
	members := openMixed(t, p, 101)
	rooms := []string{hub.Lobby}
	h.Notice(rooms, "maintenance at 22:00")
	p.Drain()
	before := p.Written(members[100])
	allocs := testing.AllocsPerRun(1000, func() {
		h.Notice(rooms, "maintenance at 22:00")
		p.Drain()
	})
	if p.Written(members[100]) == before {
		t.Fatal("nothing delivered")
	}
	if allocs > 1 {
		t.Fatalf("notice to 101 members: %v allocs, want at most 1 (the text's copy)", allocs)
	}
}
