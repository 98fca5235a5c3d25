package hub_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"edgews/engine"
	"edgews/hub"
	"github.com/gorilla/websocket"
)

// nextEvent reads cl's next event, failing after 5s.
func nextEvent(t *testing.T, cl *client) histEvent {
	t.Helper()
	select {
	case s := <-cl.in:
		return decodeEvent(t, s)
	case <-cl.done:
		t.Fatalf("connection ended: %v", cl.err)
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for an event")
	}
	return histEvent{}
}

// roomOffsets reads cl's events until it has seen the message at offset
// last of room, and returns the offsets it got for room, from its history
// events and live messages, in order, and how long its history was.
func roomOffsets(t *testing.T, cl *client, room string, last uint64) (offs []uint64, histLen int) {
	t.Helper()
	for len(offs) == 0 || offs[len(offs)-1] < last {
		ev := nextEvent(t, cl)
		switch {
		case ev.Type == "history" && ev.Room == room:
			if ev.Reset {
				t.Fatalf("history reset: %+v", ev)
			}
			histLen = len(ev.Messages)
			for _, m := range ev.Messages {
				offs = append(offs, m.Offset)
			}
		case ev.Type == "message" && ev.Room == room:
			offs = append(offs, ev.Offset)
		}
	}
	return offs, histLen
}

// The boundary between a history event and the live messages after it is
// exact: five senders talk in a room while users enter it (at connect
// with ?room= and with a join command), and every user gets every
// message from the start of its history on exactly once, offsets
// consecutive, up to the last one.
func TestHistoryBoundaryConcurrentSenders(t *testing.T) {
	const (
		senders         = 5
		phases          = 8  // joiners enter between the phases of sending
		perTurn         = 25 // messages per sender per phase
		keep            = 50 // history per room
		joinersPerPhase = 4  // half at connect, half by a join
		total           = senders * phases * perTurn
	)
	srv, _ := startNodeConfig(t, engine.Config{}, hub.Config{Shards: 4, History: keep})
	var ss []*client
	for i := 0; i < senders; i++ {
		cl := dialChatTarget(t, srv, fmt.Sprintf("/chat?name=s%d&room=r", i))
		<-cl.in // greeting
		ss = append(ss, cl)
	}
	start := make([]chan struct{}, phases)
	for i := range start {
		start[i] = make(chan struct{})
	}
	var sent sync.WaitGroup
	for i, cl := range ss {
		sent.Add(1)
		go func() {
			defer sent.Done()
			for ph := range phases {
				<-start[ph]
				for k := range perTurn {
					if err := cl.c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "s%d-%d-%d", i, ph, k)); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	// Phase by phase: let the senders go, and at once bring in users (at
	// connect and by joining), racing with the messages.
	var joiners []*client
	var dialing sync.WaitGroup
	var mu sync.Mutex
	for ph := range phases {
		close(start[ph])
		for j := range joinersPerPhase {
			dialing.Add(1)
			go func() {
				defer dialing.Done()
				var cl *client
				if j%2 == 0 {
					cl = dialChatTarget(t, srv, "/chat?room=r", hub.ProtocolJSON)
				} else {
					cl = dialChatTarget(t, srv, "/chat", hub.ProtocolJSON)
					cl.send(t, `{"type":"join","room":"r"}`)
				}
				mu.Lock()
				joiners = append(joiners, cl)
				mu.Unlock()
			}()
		}
		dialing.Wait()
	}
	sent.Wait()
	if len(joiners) != joinersPerPhase*phases {
		t.Fatalf("%d joiners", len(joiners))
	}
	midway := 0
	for i, cl := range joiners {
		offs, histLen := roomOffsets(t, cl, "r", total)
		for k := 1; k < len(offs); k++ {
			if offs[k] != offs[k-1]+1 {
				t.Fatalf("joiner %d: offset %d after %d (history of %d): %v", i, offs[k], offs[k-1], histLen, offs)
			}
		}
		// The history is the newest keep messages before the boundary (or
		// all of them, if fewer).
		if first := offs[0]; histLen != min(keep, histLen+int(first)-1) {
			t.Fatalf("joiner %d: history of %d from offset %d", i, histLen, first)
		}
		if histLen > 0 && len(offs) > histLen {
			midway++
		}
	}
	// The test is about joins racing with messages: most joiners must
	// have got both a non-empty history and live messages.
	if midway < phases {
		t.Fatalf("only %d of %d joiners entered mid-conversation", midway, len(joiners))
	}
}

// A JSON client whose connection drops resumes from its last offset: it
// gets exactly what was said while it was away, then live messages; with
// an epoch from before a restart it gets the newest messages and a reset.
func TestHistoryResumeAfterAbruptDisconnect(t *testing.T) {
	srv, h := startNodeConfig(t, engine.Config{}, hub.Config{Shards: 4, History: 50})
	bob := dialChatTarget(t, srv, "/chat?name=bob&room=games")
	<-bob.in
	alice := dialChatTarget(t, srv, "/chat?name=alice&room=games", hub.ProtocolJSON)
	if ev := nextEvent(t, alice); ev.Type != "welcome" || ev.Room != "games" {
		t.Fatalf("welcome: %+v", ev)
	}
	if ev := nextEvent(t, alice); ev.Type != "history" || len(ev.Messages) != 0 || ev.Epoch == "" {
		t.Fatalf("history: %+v", ev)
	}
	bob.send(t, "one")
	bob.send(t, "two")
	var last histEvent
	for last.Offset < 2 {
		if ev := nextEvent(t, alice); ev.Type == "message" {
			last = ev
		}
	}
	alice.c.UnderlyingConn().Close() // no close frame
	<-alice.done
	waitUsers(t, h, 1)
	for _, s := range []string{"three", "four", "five"} {
		bob.send(t, s)
	}
	for range 5 {
		<-bob.in // bob's own lines: the node has taken all three
	}

	again := dialChatTarget(t, srv, fmt.Sprintf("/chat?name=alice&room=games&since=%d&epoch=%s", last.Offset, last.Epoch), hub.ProtocolJSON)
	if ev := nextEvent(t, again); ev.Type != "welcome" || ev.Name != "alice" {
		t.Fatalf("welcome: %+v", ev)
	}
	hist := nextEvent(t, again)
	if hist.Type != "history" || hist.Reset || fmt.Sprint(texts(hist.Messages)) != "[bob: three bob: four bob: five]" || hist.Messages[0].Offset != 3 {
		t.Fatalf("resumed history: %+v", hist)
	}
	bob.send(t, "six")
	if ev := nextEvent(t, again); ev.Type != "message" || ev.Offset != 6 || ev.Text != "six" {
		t.Fatalf("live after the resume: %+v", ev)
	}

	stale := dialChatTarget(t, srv, fmt.Sprintf("/chat?room=games&since=%d&epoch=0000-1", last.Offset), hub.ProtocolJSON)
	nextEvent(t, stale) // welcome
	if hist := nextEvent(t, stale); !hist.Reset || len(hist.Messages) != 6 {
		t.Fatalf("stale epoch: %+v", hist)
	}
}
