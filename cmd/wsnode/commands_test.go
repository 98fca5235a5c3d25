package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// jsonEvent is the part of a JSON chat event these tests read.
type jsonEvent struct {
	Type, Code, Text, From string
	Offset                 int64
}

// readEvent reads one JSON event.
func readEvent(t *testing.T, c *websocket.Conn) jsonEvent {
	t.Helper()
	line := readLine(t, c)
	var ev jsonEvent
	if err := json.Unmarshal([]byte(line), &ev); err != nil {
		t.Fatalf("not a JSON event: %q", line)
	}
	return ev
}

// jsonClient dials the node's /chat with the JSON subprotocol and reads
// its welcome and its history event (the node keeps history by default).
func jsonClient(t *testing.T, n *node, query string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial("ws://"+n.addr+"/chat"+query, http.Header{"Sec-WebSocket-Protocol": {"chat.v1+json"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for _, want := range []string{"welcome", "history"} {
		if ev := readEvent(t, c); ev.Type != want {
			t.Fatalf("got a %q event, want %q", ev.Type, want)
		}
	}
	return c
}

// Every malformed JSON command shape, sent to the built node by a JSON
// client in a room with a text and a JSON observer: the sender gets a
// bad_request error naming the field, nobody else gets anything, and the
// next good message takes the offset after the last good one (nothing was
// stored or numbered in between).
func TestMalformedJSONCommands(t *testing.T) {
	n := startNode(t, "--chat-rate", "1000", "--chat-burst", "1000")
	sender := jsonClient(t, n, "?name=alice")
	watcher := jsonClient(t, n, "?name=jo")
	if ev := readEvent(t, sender); ev.Type != "presence" {
		t.Fatalf("alice got %+v, want jo's presence", ev)
	}
	text, _ := chatClient(t, n, "?name=tx")
	for _, c := range []*websocket.Conn{sender, watcher} {
		if ev := readEvent(t, c); ev.Type != "presence" {
			t.Fatalf("got %+v, want tx's presence", ev)
		}
	}
	say := func(text string) {
		t.Helper()
		if err := sender.WriteMessage(websocket.TextMessage, []byte(text)); err != nil {
			t.Fatal(err)
		}
	}
	// good says a message and returns its offset, checking that everyone
	// gets it next: whatever a malformed command had delivered before it
	// would come first.
	good := func(msg string) int64 {
		t.Helper()
		say(`{"type":"message","text":"` + msg + `"}`)
		var offset int64
		for _, c := range []*websocket.Conn{sender, watcher} {
			ev := readEvent(t, c)
			if ev.Type != "message" || ev.Text != msg || ev.Offset == 0 {
				t.Fatalf("got %+v, want the message %q with an offset", ev, msg)
			}
			if offset != 0 && ev.Offset != offset {
				t.Fatalf("offsets %d and %d for one message", offset, ev.Offset)
			}
			offset = ev.Offset
		}
		if got := readLine(t, text); got != "[alice]: "+msg {
			t.Fatalf("text observer got %q, want %q", got, "[alice]: "+msg)
		}
		return offset
	}
	last := good("first")
	for _, tc := range []struct {
		send, field, what string
	}{
		{`{"type":"message"}`, "text", "is missing"},
		{`{"type":"message","text":5}`, "text", "must be a string"},
		{`{"type":"message","text":null}`, "text", "must be a string"},
		{`{"type":"message","text":["hi"]}`, "text", "must be a string"},
		{`{"type":"message","text":"hi","text":{"a":1}}`, "text", "must be a string"},
		{`{"type":"me"}`, "text", "is missing"},
		{`{"type":"me","text":true}`, "text", "must be a string"},
		{`{"type":"whisper","text":"psst"}`, "to", "is missing"},
		{`{"type":"whisper","to":7,"text":"psst"}`, "to", "must be a string"},
		{`{"type":"whisper","to":"jo"}`, "text", "is missing"},
		{`{"type":"whisper","to":"jo","text":{}}`, "text", "must be a string"},
		{`{"type":"nick"}`, "name", "is missing"},
		{`{"type":"nick","name":false}`, "name", "must be a string"},
		{`{"type":"join"}`, "room", "is missing"},
		{`{"type":"join","room":["games"]}`, "room", "must be a string"},
		{`{"type":"join","room":"games","epoch":1}`, "epoch", "must be a string"},
		{`{"type":"refresh","token":1}`, "token", "must be a string"},
		{`{"text":"hi"}`, "type", "is missing"},
		{`{"type":1,"text":"hi"}`, "type", "must be a string"},
	} {
		say(tc.send)
		ev := readEvent(t, sender)
		want := `"` + tc.field + `" ` + tc.what + "; send "
		if ev.Type != "error" || ev.Code != "bad_request" || !strings.HasPrefix(ev.Text, want) {
			t.Fatalf("%s: got %+v, want a bad_request error starting %q", tc.send, ev, want)
		}
		next := good("after " + tc.field)
		if next != last+1 {
			t.Fatalf("%s: the next good message has offset %d, want %d", tc.send, next, last+1)
		}
		last = next
	}
	// An empty text is still a message (as an empty line is), and JSON
	// that is not an object is a plain-text line.
	say(`{"type":"message","text":""}`)
	if ev := readEvent(t, watcher); ev.Type != "message" || ev.Text != "" || ev.Offset != last+1 {
		t.Fatalf("empty text: got %+v, want an empty message at offset %d", ev, last+1)
	}
	say(`["not","an","object"]`)
	if ev := readEvent(t, watcher); ev.Type != "message" || ev.Text != `["not","an","object"]` || ev.Offset != last+2 {
		t.Fatalf("an array: got %+v, want it said as text at offset %d", ev, last+2)
	}
}
