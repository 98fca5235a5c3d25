package hub

import (
	"bytes"
	"testing"
)

func TestWireRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		ev       event
		jsonOnly bool
	}{
		{"message", event{typ: evMessage, room: "lobby", from: "ann", text: []byte("hi \"there\"\n"), ts: 1718000000000}, false},
		{"empty message", event{typ: evMessage, room: "lobby", from: "ann", text: []byte{}, ts: 1}, false},
		{"me", event{typ: evMe, room: "games", from: "bob", text: []byte("waves"), ts: 2}, false},
		{"whisper", event{typ: evWhisper, from: "ann", to: "Cat", text: []byte("psst"), ts: 3}, false},
		{"joined, created", event{typ: evPresence, action: actJoined, room: "games", name: "bob", created: true, ts: 4}, false},
		{"connect", event{typ: evPresence, action: actJoined, room: "lobby", name: "bob", ts: 5}, true},
		{"renamed", event{typ: evPresence, action: actRenamed, room: "lobby", name: "bobby", old: "bob", ts: 6}, false},
		{"verified message", event{typ: evMessage, room: "lobby", from: "ann", text: []byte("hi"), ts: 7, verified: true}, false},
		{"verified whisper", event{typ: evWhisper, from: "ann", to: "Cat", text: []byte("psst"), ts: 8, verified: true}, false},
		{"verified connect", event{typ: evPresence, action: actJoined, room: "lobby", name: "ann", ts: 9, verified: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.ev.appendWire(nil, tt.jsonOnly)
			got, jsonOnly, err := parseWire(p)
			if err != nil {
				t.Fatal(err)
			}
			if jsonOnly != tt.jsonOnly {
				t.Errorf("jsonOnly = %v, want %v", jsonOnly, tt.jsonOnly)
			}
			// Both render the same, in both formats.
			if a, b := got.appendText(nil), tt.ev.appendText(nil); !bytes.Equal(a, b) {
				t.Errorf("text: got %q, want %q", a, b)
			}
			if a, b := got.appendJSON(nil), tt.ev.appendJSON(nil); !bytes.Equal(a, b) {
				t.Errorf("JSON: got %s, want %s", a, b)
			}
		})
	}
}

func TestWireMalformed(t *testing.T) {
	good := (&event{typ: evMessage, room: "lobby", from: "ann", text: []byte("hi")}).appendWire(nil, false)
	for k := 0; k < len(good); k++ {
		if _, _, err := parseWire(good[:k]); err == nil {
			t.Errorf("truncated to %d bytes: no error", k)
		}
	}
	bad := append([]byte(nil), good...)
	bad[0] = 9
	if _, _, err := parseWire(bad); err != errWireMalformed {
		t.Errorf("unknown version: %v", err)
	}
	bad = append([]byte(nil), good...)
	bad[1] = 'z'
	if _, _, err := parseWire(bad); err != errWireMalformed {
		t.Errorf("unknown kind: %v", err)
	}
}
