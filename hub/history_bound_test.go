package hub_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"edgews/engine"
	"edgews/hub"
)

// A room full of the longest lines, of control characters that JSON
// escapes six times longer (4,096 bytes become 24.6 KB), does not make
// the history event a JSON client gets on entry, nor a /history answer,
// larger than a quarter of MaxOutboundBytes: the newest messages that fit
// are sent, and the event says "truncated". The client is not closed and
// the live messages continue after it.
func TestHistoryEventBounded(t *testing.T) {
	const limit = engine.DefaultMaxOutboundBytes
	p, _ := newChatConfig(t, 2, hub.Config{Shards: 4, History: 50})
	flood := openAs(t, p, "/chat?name=flood", 0, false)
	line := strings.Repeat("\x01", hub.DefaultMaxLine)
	for range 45 {
		send(p, flood, line)
	}
	p.Received(flood)

	c, err := p.Open("/chat?name=reader", 1, true, jsonHeader)
	if err != nil {
		t.Fatal(err)
	}
	p.Drain()
	got := p.Received(c)
	if len(got) != 2 || p.Closed(c) {
		t.Fatalf("the reader got %d events, closed %v", len(got), p.Closed(c))
	}
	// The newest kept, without a gap: the flood's share of the history
	// (TestHistoryShareOfOneConnection) keeps some 40 of its 45 lines.
	checkBounded := func(what, s string, last uint64) uint64 {
		t.Helper()
		if len(s) > limit/4 {
			t.Fatalf("%s: %d bytes, more than a quarter of MaxOutboundBytes (%d)", what, len(s), limit/4)
		}
		hist := decodeEvent(t, s)
		if !strings.Contains(s, `"truncated":true`) || len(hist.Messages) < 8 {
			t.Fatalf("%s: %d messages, truncated %v", what, len(hist.Messages), strings.Contains(s, `"truncated":true`))
		}
		if last == 0 {
			last = hist.Messages[len(hist.Messages)-1].Offset
		}
		for i, m := range hist.Messages {
			if want := last - uint64(len(hist.Messages)-1-i); m.Offset != want || m.Text != line {
				t.Fatalf("%s: message %d has offset %d, want %d", what, i, m.Offset, want)
			}
		}
		return last
	}
	last := checkBounded("history on entry", got[1], 0)
	if last < 30 {
		t.Fatalf("the room keeps %d messages", last)
	}
	send(p, c, "live")
	if got := p.Received(c); len(got) != 1 || decodeEvent(t, got[0]).Offset != last+1 {
		t.Fatalf("the live message after the history: %q", got)
	}
	send(p, flood, line)
	p.Received(c)
	send(p, c, "/history 50")
	got = p.Received(c)
	if len(got) != 1 || !strings.HasSuffix(decodeEvent(t, got[0]).Messages[len(decodeEvent(t, got[0]).Messages)-1].Text, "live") {
		t.Fatalf("JSON /history: %d events", len(got))
	}

}

// A text client's /history is bounded the same way, in lines: 50 lines of
// 4 KiB against a quarter of 64 KiB.
func TestHistoryTextBounded(t *testing.T) {
	const small = 64 << 10
	p2 := engine.NewInProc(engine.Config{MaxOutboundBytes: small}, 1)
	hub.New(p2.Server(), hub.Config{Shards: 4, History: 50})
	a := openAs(t, p2, "/chat?name=a", 0, false)
	long := strings.Repeat("x", hub.DefaultMaxLine-4)
	for i := range 80 {
		send(p2, a, fmt.Sprintf("%03d %s", i, long))
	}
	p2.Received(a)
	send(p2, a, "/history 50")
	got := p2.Received(a)
	total := 0
	for _, s := range got[2 : len(got)-1] {
		total += len(s)
	}
	if total > small/4 || len(got) < 4 {
		t.Fatalf("text /history: %d lines, %d bytes", len(got), total)
	}
	short := func(s string) string { return s[:min(len(s), 12)] }
	lines := got[2 : len(got)-1]
	if got[0] != "*** history of lobby:" || got[1] != fmt.Sprintf("*** %d older messages left out: too long to send at once", 50-len(lines)) ||
		got[len(got)-1] != "*** end of history" || !strings.HasPrefix(lines[len(lines)-1], "[a]: 079 ") {
		t.Fatalf("text /history: %q %q ... %q %q", got[0], short(got[1]), short(got[len(got)-2]), got[len(got)-1])
	}
}

// A history that fits is not marked truncated (the other tests compare
// whole events byte for byte).
func TestHistoryEventNotTruncated(t *testing.T) {
	p, _ := newChatConfig(t, 1, withHistory(50))
	a := openAs(t, p, "/chat?name=a", 0, true)
	for i := range 50 {
		send(p, a, fmt.Sprint("line ", i))
	}
	p.Received(a)
	send(p, a, "/history 50")
	if got := p.Received(a); len(got) != 1 || strings.Contains(got[0], "truncated") || len(decodeEvent(t, got[0]).Messages) != 50 {
		t.Fatalf("got %q", got)
	}
}

// One connection talking in many rooms cannot flush the others' history:
// it holds at most HistoryRoomMaxBytes (1/64 of HistoryMaxBytes by
// default); its messages beyond that are delivered without an offset and
// not kept. A quiet room's messages, the oldest on the node, stay.
func TestHistoryShareOfOneConnection(t *testing.T) {
	const nodeMax = 1 << 20 // a share of 16 KiB
	p, h := newChatConfig(t, 2, hub.Config{Shards: 4, History: 50, HistoryMaxBytes: nodeMax})
	bob := openAs(t, p, "/chat?name=bob&room=quiet", 1, true)
	for _, s := range []string{"one", "two", "three"} {
		send(p, bob, s)
	}
	p.Received(bob)
	flood := openAs(t, p, "/chat?name=flood", 0, true)
	line := strings.Repeat("x", hub.DefaultMaxLine)
	var kept, unkept int
	for i := range 300 {
		send(p, flood, fmt.Sprintf(`{"type":"join","room":"r%d"}`, i))
		p.Received(flood)
		send(p, flood, line)
		got := p.Received(flood)
		if len(got) != 1 {
			t.Fatalf("the flood's line %d: %q", i, got)
		}
		if ev := decodeEvent(t, got[0]); ev.Offset != 0 {
			kept++
		} else if ev.Text == line && ev.Epoch == "" {
			unkept++
		}
	}
	alice := openAs(t, p, "/chat?name=alice", 0, true)
	send(p, alice, `{"type":"join","room":"quiet"}`)
	got := p.Received(alice)
	if hist := decodeEvent(t, got[len(got)-1]); hist.Reset || !slices.Equal(texts(hist.Messages), []string{"bob: one", "bob: two", "bob: three"}) {
		t.Fatalf("the quiet room's history: %s", got[len(got)-1])
	}
	if kept == 0 || kept > 4 || kept+unkept != 300 {
		t.Fatalf("the flood's lines: %d kept, %d not kept, want a few kept and the rest delivered without an offset", kept, unkept)
	}
	if n := h.History().(*hub.MemoryHistory).Bytes(); n > nodeMax/2 {
		t.Fatalf("the history holds %d bytes", n)
	}
}
