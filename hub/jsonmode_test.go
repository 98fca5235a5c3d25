package hub_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"edgews/codec"
	"edgews/engine"
	"edgews/hub"
	"github.com/gorilla/websocket"
)

// norm makes a received message comparable: a JSON event is re-encoded
// with sorted keys, with "ts" and "seq" (which vary) replaced by true
// when they are positive numbers. Text lines are kept as they are.
func norm(t testing.TB, msgs []string) []string {
	t.Helper()
	out := make([]string, 0, len(msgs))
	for _, s := range msgs {
		if len(s) == 0 || s[0] != '{' {
			out = append(out, s)
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("invalid JSON event %q: %v", s, err)
		}
		for _, k := range []string{"ts", "seq"} {
			if v, ok := m[k].(float64); ok && v > 0 {
				m[k] = true
			}
		}
		b, _ := json.Marshal(m)
		out = append(out, string(b))
	}
	return out
}

// trioJSON opens alice (JSON, loop 0), bob (text, loop 1) and carol
// (JSON, loop 1) in the lobby.
func trioJSON(t *testing.T) (*engine.InProc, []*engine.Conn) {
	t.Helper()
	p, _ := newChat(t, 2)
	cs := []*engine.Conn{
		openAs(t, p, "/chat?name=alice", 0, true),
		openAs(t, p, "/chat?name=bob", 1, false),
		openAs(t, p, "/chat?name=carol", 1, true),
	}
	for _, c := range cs {
		p.Received(c)
	}
	return p, cs
}

func TestChatJSONWelcomeAndPresence(t *testing.T) {
	p, _ := newChat(t, 2)
	alice, err := p.Open("/chat?name=alice", 0, true, jsonHeader)
	if err != nil {
		t.Fatal(err)
	}
	if alice.Protocol() != hub.ProtocolJSON {
		t.Fatalf("Protocol = %q", alice.Protocol())
	}
	p.Drain()
	expect := func(c *engine.Conn, want ...string) {
		t.Helper()
		if got := norm(t, p.Received(c)); !slices.Equal(got, norm(t, want)) {
			t.Fatalf("got  %q\nwant %q", got, norm(t, want))
		}
	}
	expect(alice, `{"type":"welcome","name":"alice","room":"lobby","text":"You are connected! There are 1 users here.","members":["alice"],"count":1,"users":1,"seq":true}`)
	bob := openAs(t, p, "/chat?name=bob", 1, false)
	expect(alice, `{"type":"presence","event":"joined","room":"lobby","name":"bob","members":["alice","bob"],"count":2,"seq":true,"ts":true}`)
	carol, err := p.Open("/chat?name=Bob", 1, true, jsonHeader)
	if err != nil {
		t.Fatal(err)
	}
	p.Drain()
	expect(carol,
		`{"type":"welcome","name":"user0","room":"lobby","text":"You are connected! There are 3 users here.","members":["alice","bob","user0"],"count":3,"users":3,"seq":true}`,
		`{"type":"error","code":"name_taken","text":"name \"Bob\" is taken"}`)
	expect(alice, `{"type":"presence","event":"joined","room":"lobby","name":"user0","members":["alice","bob","user0"],"count":3,"seq":true,"ts":true}`)
	expect(bob) // connects are not announced to text clients
	p.Disconnect(bob)
	p.Drain()
	expect(alice, `{"type":"presence","event":"left","room":"lobby","name":"bob","members":["alice","user0"],"count":2,"seq":true,"ts":true}`)
	expect(carol, `{"type":"presence","event":"left","room":"lobby","name":"bob","members":["alice","user0"],"count":2,"seq":true,"ts":true}`)
}

// TestChatJSONCommands sends one message from alice (JSON) and checks what
// alice, bob (text) and carol (JSON) receive: a room mixing both formats.
func TestChatJSONCommands(t *testing.T) {
	msg := func(from, text string) [3][]string {
		j, _ := json.Marshal(map[string]any{"type": "message", "room": "lobby", "from": from, "text": text, "ts": 1})
		return [3][]string{{string(j)}, {"[" + from + "]: " + text}, {string(j)}}
	}
	errAlice := func(code, text string) [3][]string {
		j, _ := json.Marshal(map[string]any{"type": "error", "code": code, "text": text})
		return [3][]string{{string(j)}}
	}
	tests := []struct {
		name string
		send string
		want [3][]string
	}{
		{"message", `{"type":"message","text":"hi"}`, msg("alice", "hi")},
		{"message html", `{"type":"message","text":"<b>x</b>"}`, msg("alice", "<b>x</b>")},
		{"message escapes", `{"type":"message","text":"a\"b\\c\nd\u00e9"}`, msg("alice", "a\"b\\c\ndé")},
		{"message is never a command", `{"type":"message","text":"/nick x"}`, msg("alice", "/nick x")},
		{"message with empty text", `{"type":"message","text":""}`, msg("alice", "")},
		{"message without text", `{"type":"message"}`, errAlice("bad_request", `"text" is missing; send {"type":"message","text":"..."}`)},
		{"message with a number", `{"type":"message","text":5}`, errAlice("bad_request", `"text" must be a string; send {"type":"message","text":"..."}`)},
		{"plain line", "plain", msg("alice", "plain")},
		{"plain command", "/me waves", [3][]string{
			{`{"type":"me","room":"lobby","from":"alice","text":"waves","ts":1}`}, {"* alice waves"},
			{`{"type":"me","room":"lobby","from":"alice","text":"waves","ts":1}`}}},
		{"me", `{"type":"me","text":"waves"}`, [3][]string{
			{`{"type":"me","room":"lobby","from":"alice","text":"waves","ts":1}`}, {"* alice waves"},
			{`{"type":"me","room":"lobby","from":"alice","text":"waves","ts":1}`}}},
		{"whisper to text client", `{"type":"whisper","to":"bob","text":"psst"}`, [3][]string{
			{`{"type":"whisper","from":"alice","to":"bob","text":"psst","ts":1}`}, {"[alice -> bob]: psst"}}},
		{"whisper to JSON client", `{"type":"whisper","to":"CAROL","text":"psst"}`, [3][]string{
			{`{"type":"whisper","from":"alice","to":"carol","text":"psst","ts":1}`}, nil,
			{`{"type":"whisper","from":"alice","to":"carol","text":"psst","ts":1}`}}},
		{"whisper to self", `{"type":"whisper","to":"alice","text":"x"}`, errAlice("self_whisper", "you cannot whisper to yourself")},
		{"whisper to unknown", `{"type":"whisper","to":"zed","text":"x"}`, errAlice("unknown_user", `no user named "zed"`)},
		{"whisper with empty text", `{"type":"whisper","to":"bob","text":""}`, errAlice("usage", "usage: /whisper NAME TEXT")},
		{"whisper without text", `{"type":"whisper","to":"bob"}`, errAlice("bad_request", `"text" is missing; send {"type":"whisper","to":"NAME","text":"..."}`)},
		{"whisper to null", `{"type":"whisper","to":null,"text":"x"}`, errAlice("bad_request", `"to" must be a string; send {"type":"whisper","to":"NAME","text":"..."}`)},
		{"nick", `{"type":"nick","name":"ally"}`, [3][]string{
			{`{"type":"presence","event":"renamed","room":"lobby","name":"ally","old":"alice","members":["ally","bob","carol"],"count":3,"seq":1,"ts":1}`},
			{"*** alice is now known as ally"},
			{`{"type":"presence","event":"renamed","room":"lobby","name":"ally","old":"alice","members":["ally","bob","carol"],"count":3,"seq":1,"ts":1}`}}},
		{"nick taken", `{"type":"nick","name":"bob"}`, errAlice("name_taken", `name "bob" is taken`)},
		{"nick invalid", `{"type":"nick","name":"a b"}`, errAlice("invalid_name", `invalid name "a b": use 1-32 letters, digits, _ or -`)},
		{"nick empty", `{"type":"nick","name":""}`, errAlice("usage", "usage: /nick NAME")},
		{"nick missing", `{"type":"nick"}`, errAlice("bad_request", `"name" is missing; send {"type":"nick","name":"NAME"}`)},
		{"users", `{"type":"users"}`, [3][]string{{`{"type":"users","room":"lobby","members":["alice","bob","carol"],"count":3,"seq":1}`}}},
		{"join", `{"type":"join","room":"games"}`, [3][]string{
			{`{"type":"presence","event":"joined","room":"games","name":"alice","members":["alice"],"count":1,"seq":1,"created":true,"ts":1}`},
			{"*** alice left lobby"},
			{`{"type":"presence","event":"left","room":"lobby","name":"alice","members":["bob","carol"],"count":2,"seq":1,"ts":1}`}}},
		{"join invalid", `{"type":"join","room":"../x"}`, errAlice("invalid_name", `invalid room name "../x": use 1-32 letters, digits, _ or -`)},
		{"leave lobby", `{"type":"leave"}`, errAlice("same_room", "you are already in lobby")},
		{"help", `{"type":"help"}`, [3][]string{}}, // checked below
		{"unknown type", `{"type":"dance"}`, errAlice("unknown_command", `unknown command type "dance"`)},
		{"no type", `{"text":"hi"}`, errAlice("bad_request", `"type" is missing; send {"type":"message","text":"..."} or a plain-text line`)},
		{"join without room", `{"type":"join"}`, errAlice("bad_request", `"room" is missing; send {"type":"join","room":"ROOM"}`)},
		{"join with a bad since", `{"type":"join","room":"games","since":[1]}`, errAlice("bad_request", `"since" must be a number; send {"type":"join","room":"ROOM"}`)},
		{"bad JSON", `{"type":"message"`, errAlice("bad_json", `not a JSON object; send {"type":"message","text":"..."} or a plain-text line`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, cs := trioJSON(t)
			send(p, cs[0], tt.send)
			if tt.name == "help" {
				got := p.Received(cs[0])
				var ev struct{ Type, Text string }
				if len(got) != 1 || json.Unmarshal([]byte(got[0]), &ev) != nil || ev.Type != "help" || len(ev.Text) < 100 {
					t.Fatalf("help: %q", got)
				}
				return
			}
			for i, c := range cs {
				if got, want := norm(t, p.Received(c)), norm(t, tt.want[i]); !slices.Equal(got, want) {
					t.Errorf("user %d got  %q\nwant %q", i, got, want)
				}
			}
		})
	}
}

// A text client's message reaches JSON members as an event: one broadcast
// carries both formats.
func TestChatMixedRoom(t *testing.T) {
	p, h := newChat(t, 2)
	var text, js []*engine.Conn
	for i := 0; i < 6; i++ {
		text = append(text, openAs(t, p, "/chat", i%2, false))
		js = append(js, openAs(t, p, "/chat", i%2, true))
	}
	for _, c := range append(slices.Clone(text), js...) {
		p.Received(c)
	}
	before := h.Stats().Broadcasts.Load()
	send(p, text[0], "hi")
	if n := h.Stats().Broadcasts.Load() - before; n != 1 {
		t.Fatalf("Broadcasts = %d, want 1", n)
	}
	for _, c := range text {
		if got := p.Received(c); !slices.Equal(got, []string{"[user0]: hi"}) {
			t.Fatalf("text member got %q", got)
		}
	}
	want := norm(t, []string{`{"type":"message","room":"lobby","from":"user0","text":"hi","ts":1}`})
	for _, c := range js {
		if got := norm(t, p.Received(c)); !slices.Equal(got, want) {
			t.Fatalf("JSON member got %q", got)
		}
	}
}

// Over sockets: the subprotocol is negotiated, and a room mixing text and
// JSON clients on two loops gets each message in each client's format.
func TestChatJSONOverSockets(t *testing.T) {
	srv, _ := startNode(t, engine.Config{})
	j := dialChatTarget(t, srv, "/chat?name=j", "other.v1", hub.ProtocolJSON)
	if got := j.c.Subprotocol(); got != hub.ProtocolJSON {
		t.Fatalf("negotiated %q", got)
	}
	expectJSON := func(want string) {
		t.Helper()
		select {
		case got := <-j.in:
			if g, w := norm(t, []string{got}), norm(t, []string{want}); !slices.Equal(g, w) {
				t.Fatalf("got  %q\nwant %q", g, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("timed out waiting for %s", want)
		}
	}
	expectJSON(`{"type":"welcome","name":"j","room":"lobby","text":"You are connected! There are 1 users here.","members":["j"],"count":1,"users":1,"seq":1}`)
	tx := dialChatTarget(t, srv, "/chat?name=tx")
	if tx.c.Subprotocol() != "" {
		t.Fatalf("text client negotiated %q", tx.c.Subprotocol())
	}
	tx.expect(t, "You are connected! There are 2 users here.")
	expectJSON(`{"type":"presence","event":"joined","room":"lobby","name":"tx","members":["j","tx"],"count":2,"seq":1,"ts":1}`)
	tx.send(t, "<i>hi</i>")
	tx.expect(t, "[tx]: <i>hi</i>")
	expectJSON(`{"type":"message","room":"lobby","from":"tx","text":"<i>hi</i>","ts":1}`)
	if err := j.c.WriteMessage(websocket.TextMessage, []byte(`{"type":"message","text":"yo \"tx\""}`)); err != nil {
		t.Fatal(err)
	}
	expectJSON(`{"type":"message","room":"lobby","from":"j","text":"yo \"tx\"","ts":1}`)
	tx.expect(t, `[j]: yo "tx"`)
	if err := j.c.WriteMessage(websocket.TextMessage, []byte(`{"type":"whisper","to":"tx","text":"psst"}`)); err != nil {
		t.Fatal(err)
	}
	expectJSON(`{"type":"whisper","from":"j","to":"tx","text":"psst","ts":1}`)
	tx.expect(t, "[j -> tx]: psst")
}

// Over hub.MaxRoster members, a room's member list is not sent: events
// carry the count, and connects are not announced.
func TestChatBigRoom(t *testing.T) {
	p, _ := newChat(t, 2)
	for i := 0; i < hub.MaxRoster; i++ {
		if _, err := p.Open("/chat", i%2, false); err != nil {
			t.Fatal(err)
		}
	}
	p.Drain()
	n := hub.MaxRoster + 1
	j, err := p.Open("/chat?name=j", 0, true, jsonHeader)
	if err != nil {
		t.Fatal(err)
	}
	p.Drain()
	want := fmt.Sprintf(`{"type":"welcome","name":"j","room":"lobby","text":"You are connected! There are %d users here.","count":%d,"users":%d,"seq":1}`, n, n, n)
	if got := norm(t, p.Received(j)); !slices.Equal(got, norm(t, []string{want})) {
		t.Fatalf("welcome %q", got)
	}
	tx := openAs(t, p, "/chat?name=tx", 1, false)
	if got := p.Received(j); len(got) != 0 {
		t.Fatalf("connect announced in a big room: %q", got)
	}
	send(p, tx, "/users")
	if got := p.Received(tx); !slices.Equal(got, []string{fmt.Sprintf("*** %d in lobby (too many to list)", n+1)}) {
		t.Fatalf("users %q", got)
	}
	send(p, tx, "/nick tx2")
	want = fmt.Sprintf(`{"type":"presence","event":"renamed","room":"lobby","name":"tx2","old":"tx","count":%d,"seq":1,"ts":1}`, n+1)
	if got := norm(t, p.Received(j)); !slices.Equal(got, norm(t, []string{want})) {
		t.Fatalf("rename %q", got)
	}
}

// An empty text message reaches JSON members with an empty "text".
func TestChatJSONEmptyText(t *testing.T) {
	p, cs := trioJSON(t)
	p.Message(cs[1], codec.OpText, nil)
	p.Drain()
	want := norm(t, []string{`{"type":"message","room":"lobby","from":"bob","text":"","ts":1}`})
	if got := norm(t, p.Received(cs[0])); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
