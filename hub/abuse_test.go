package hub_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"edgews/codec"
	"edgews/engine"
	"edgews/hub"
	"github.com/gorilla/websocket"
)

// Rate limit, in process with a fake clock: a burst, then one message per
// interval; refused messages get error lines, and MaxStrikes in a row
// close the connection with 1008.
func TestChatRateLimit(t *testing.T) {
	p, h := newChatConfig(t, 2, hub.Config{Rate: 10, Burst: 3, MaxStrikes: 4})
	now := time.Second
	hub.SetClock(h, func() time.Duration { return now })
	a := openAs(t, p, "/chat?name=a", 0, false)
	b := openAs(t, p, "/chat?name=b", 1, false)
	const limited = "error: too many messages (limit 10/s, burst 3); message dropped"
	steps := []struct {
		name    string
		advance time.Duration
		send    string
		wantA   []string
		wantB   []string
	}{
		{"burst 1", 0, "m1", []string{"[a]: m1"}, []string{"[a]: m1"}},
		{"burst 2", 0, "m2", []string{"[a]: m2"}, []string{"[a]: m2"}},
		{"burst 3", 0, "/users", []string{"*** 2 in lobby: a, b"}, nil}, // commands count
		{"over", 0, "m4", []string{limited}, nil},
		{"over again", 50 * time.Millisecond, "m5", []string{limited}, nil},
		{"refilled", 50 * time.Millisecond, "m6", []string{"[a]: m6"}, []string{"[a]: m6"}},
		{"strike 1", 0, "x", []string{limited}, nil},
		{"strike 2", 0, "x", []string{limited}, nil},
		{"strike 3", 0, "x", []string{limited}, nil},
		{"strike 4 closes", 0, "x", []string{"close 1008 rate limit exceeded"}, nil},
		{"ignored after", time.Second, "y", nil, nil},
	}
	for _, st := range steps {
		now += st.advance
		send(p, a, st.send)
		if got := p.Received(a); !slices.Equal(got, st.wantA) {
			t.Fatalf("%s: a got %q, want %q", st.name, got, st.wantA)
		}
		if got := p.Received(b); !slices.Equal(got, st.wantB) {
			t.Fatalf("%s: b got %q, want %q", st.name, got, st.wantB)
		}
	}
	s := h.Stats()
	if s.RateLimited.Load() != 6 || s.RateKicks.Load() != 1 {
		t.Fatalf("RateLimited, RateKicks = %d, %d, want 6, 1", s.RateLimited.Load(), s.RateKicks.Load())
	}
	// A conforming message resets the strikes: b alternates.
	for i := 0; i < 10; i++ {
		send(p, b, "ok")
		send(p, b, "ok")
		send(p, b, "ok")
		now += 300 * time.Millisecond
	}
	if s.RateKicks.Load() != 1 {
		t.Fatalf("b was kicked")
	}
}

func TestChatLineCap(t *testing.T) {
	p, h := newChatConfig(t, 2, hub.Config{MaxLine: 10})
	a := openAs(t, p, "/chat?name=a", 0, false)
	b := openAs(t, p, "/chat?name=b", 1, true)
	tests := []struct {
		name string
		from *engine.Conn
		send string
		want []string // to the sender
	}{
		{"at the cap", a, "0123456789", []string{"[a]: 0123456789"}},
		{"over", a, "0123456789x", []string{"error: message too long (11 bytes, limit 10); not sent"}},
		{"multibyte over", a, "ééééé.", []string{"error: message too long (11 bytes, limit 10); not sent"}},
		{"me over", a, "/me 0123456789x", []string{"error: message too long (11 bytes, limit 10); not sent"}},
		{"whisper over", a, "/w b 0123456789x", []string{"error: message too long (11 bytes, limit 10); not sent"}},
		{"json over", b, `{"type":"message","text":"0123456789x"}`, []string{`{"type":"error","code":"too_long","text":"message too long (11 bytes, limit 10); not sent"}`}},
		{"json escapes count decoded", b, `{"type":"message","text":"\u00e9\u00e9\u00e9\u00e9\u00e9"}`, []string{`{"type":"message","room":"lobby","from":"b","text":"ééééé","ts":1}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			send(p, tt.from, tt.send)
			if got := norm(t, p.Received(tt.from)); !slices.Equal(got, norm(t, tt.want)) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			p.Received(a)
			p.Received(b)
		})
	}
	if n := h.Stats().TooLong.Load(); n != 5 {
		t.Fatalf("TooLong = %d, want 5", n)
	}
}

// Flooding over sockets: error lines, then close 1008, and the others are
// unaffected.
func TestChatFloodOverSockets(t *testing.T) {
	// 1 message per 10 s after a burst of 5: the test cannot refill it.
	srv, h := startNodeConfig(t, engine.Config{}, hub.Config{Rate: 0.1, Burst: 5, MaxStrikes: 5})
	flooder := dialChatTarget(t, srv, "/chat?name=flooder")
	flooder.expect(t, "You are connected! There are 1 users here.")
	other := dialChatTarget(t, srv, "/chat?name=other")
	other.expect(t, "You are connected! There are 2 users here.")
	for i := 0; i < 100; i++ {
		if err := flooder.c.WriteMessage(websocket.TextMessage, []byte("spam")); err != nil {
			break // closed under us
		}
	}
	for i := 0; i < 5; i++ {
		flooder.expect(t, "[flooder]: spam")
		other.expect(t, "[flooder]: spam")
	}
	for i := 0; i < 4; i++ {
		flooder.expect(t, "error: too many messages (limit 0.1/s, burst 5); message dropped")
	}
	<-flooder.done
	var ce *websocket.CloseError
	if !errors.As(flooder.err, &ce) || ce.Code != int(codec.StatusPolicyViolation) || ce.Text != "rate limit exceeded" {
		t.Fatalf("flooder ended with %v, want close 1008", flooder.err)
	}
	if n := len(flooder.in); n != 0 {
		t.Fatalf("%d more messages after the errors", n)
	}
	waitUsers(t, h, 1)
	if h.Stats().RateKicks.Load() != 1 || h.Stats().RateLimited.Load() < 5 {
		t.Fatalf("RateKicks, RateLimited = %d, %d", h.Stats().RateKicks.Load(), h.Stats().RateLimited.Load())
	}
	other.send(t, "still fine")
	other.expect(t, "[other]: still fine")
}

// Oversized input over sockets: a chat line over MaxLine gets an error
// line and the connection stays; a message over the engine's
// MaxMessageSize is closed with 1009.
func TestChatOversizedOverSockets(t *testing.T) {
	srv, h := startNodeConfig(t, engine.Config{MaxMessageSize: 8 << 10}, hub.Config{})
	a := dialChatTarget(t, srv, "/chat?name=a")
	a.expect(t, "You are connected! There are 1 users here.")
	b := dialChatTarget(t, srv, "/chat?name=b")
	b.expect(t, "You are connected! There are 2 users here.")
	a.send(t, strings.Repeat("x", hub.DefaultMaxLine+1))
	a.expect(t, "error: message too long (4097 bytes, limit 4096); not sent")
	a.send(t, strings.Repeat("y", hub.DefaultMaxLine))
	a.expect(t, "[a]: "+strings.Repeat("y", hub.DefaultMaxLine))
	b.expect(t, "[a]: "+strings.Repeat("y", hub.DefaultMaxLine))
	a.send(t, strings.Repeat("z", 8<<10+1))
	<-a.done
	var ce *websocket.CloseError
	if !errors.As(a.err, &ce) || ce.Code != int(codec.StatusMessageTooBig) {
		t.Fatalf("a ended with %v, want close 1009", a.err)
	}
	waitUsers(t, h, 1)
	b.send(t, "ok")
	b.expect(t, "[b]: ok")
}

// Invalid UTF-8 in a text frame is closed with 1007 by the codec; nothing
// of it reaches the room.
func TestChatInvalidUTF8OverSockets(t *testing.T) {
	srv, h := startNode(t, engine.Config{})
	a := dialChatTarget(t, srv, "/chat?name=a")
	a.expect(t, "You are connected! There are 1 users here.")
	b := dialChatTarget(t, srv, "/chat?name=b", hub.ProtocolJSON)
	<-b.in // welcome
	a.send(t, "ok \xff\xfe")
	<-a.done
	var ce *websocket.CloseError
	if !errors.As(a.err, &ce) || ce.Code != int(codec.StatusInvalidFramePayloadData) {
		t.Fatalf("a ended with %v, want close 1007", a.err)
	}
	waitUsers(t, h, 1)
	got := norm(t, []string{<-b.in})
	want := norm(t, []string{`{"type":"presence","event":"left","room":"lobby","name":"a","members":["b"],"count":1,"seq":1,"ts":1}`})
	if !slices.Equal(got, want) {
		t.Fatalf("b got %q, want %q", got, want)
	}
}

// /chat's frame limit defaults to ChatSizeFactor × MaxLine: a frame
// announcing more is closed with 1009 at its header, while /echo keeps the
// server's larger limits.
func TestChatFrameLimitDefault(t *testing.T) {
	srv, h := startNode(t, engine.Config{})
	a := dialChatTarget(t, srv, "/chat?name=a")
	a.expect(t, "You are connected! There are 1 users here.")
	limit := hub.ChatSizeFactor * hub.DefaultMaxLine
	a.send(t, strings.Repeat("x", limit)) // at the limit: an error line, the connection stays
	a.expect(t, "error: message too long (16384 bytes, limit 4096); not sent")
	a.send(t, strings.Repeat("x", limit+1))
	<-a.done
	var ce *websocket.CloseError
	if !errors.As(a.err, &ce) || ce.Code != int(codec.StatusMessageTooBig) {
		t.Fatalf("a ended with %v, want close 1009", a.err)
	}
	waitUsers(t, h, 0)
	e := dialChatTarget(t, srv, "/echo")
	big := strings.Repeat("e", 100_000)
	e.send(t, big)
	e.expect(t, big)
}
