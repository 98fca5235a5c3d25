package hub

import (
	"encoding/json"
	"testing"
)

func TestAppendJSONString(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"plain", "hello", `"hello"`},
		{"empty", "", `""`},
		{"quote backslash", `say "hi" \o/`, `"say \"hi\" \\o/"`},
		{"controls", "a\nb\tc\r\x00\x1f", `"a\nb\tc\r\u0000\u001f"`},
		{"html stays", "<b>x</b> & co", `"<b>x</b> & co"`},
		{"utf-8 passes", "héllo 世界 😀", `"héllo 世界 😀"`},
		{"line separator", "a\u2028b", "\"a\u2028b\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(appendJSONString(nil, tt.in))
			if got != tt.want {
				t.Fatalf("appendJSONString(%q) = %s, want %s", tt.in, got, tt.want)
			}
			if b := string(appendJSONString(nil, []byte(tt.in))); b != got {
				t.Fatalf("[]byte form = %s, string form %s", b, got)
			}
			var back string
			if err := json.Unmarshal([]byte(got), &back); err != nil || back != tt.in {
				t.Fatalf("round trip: %q, %v", back, err)
			}
		})
	}
}

func TestParseCommand(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
		want map[string]string // field -> value; absent: nil
	}{
		{"message", `{"type":"message","text":"hi"}`, true, map[string]string{"type": "message", "text": "hi"}},
		{"spaces", " { \"type\" : \"nick\" , \"name\" : \"bob\" } ", true, map[string]string{"type": "nick", "name": "bob"}},
		{"whisper", `{"type":"whisper","to":"bob","text":"psst"}`, true, map[string]string{"type": "whisper", "to": "bob", "text": "psst"}},
		{"join", `{"type":"join","room":"games"}`, true, map[string]string{"type": "join", "room": "games"}},
		{"empty object", `{}`, true, map[string]string{}},
		{"escapes", `{"type":"message","text":"a\"b\\c\/d\n\u00e9\ud83d\ude00"}`, true, map[string]string{"type": "message", "text": "a\"b\\c/d\né😀"}},
		{"lone surrogate", `{"text":"\ud800x"}`, true, map[string]string{"text": "\ufffdx"}},
		{"two escaped fields", `{"type":"m\u0065ssage","text":"\u0041"}`, true, map[string]string{"type": "message", "text": "A"}},
		{"other types skipped", `{"n":1.5e3,"b":true,"z":null,"o":{"text":"inner","a":[1,"]",{}]},"type":"users"}`, true, map[string]string{"type": "users"}},
		{"last wins", `{"type":"a","type":"leave"}`, true, map[string]string{"type": "leave"}},
		{"non-string text ignored", `{"type":"message","text":5}`, true, map[string]string{"type": "message"}},
		{"html verbatim", `{"type":"message","text":"<b>x</b>"}`, true, map[string]string{"type": "message", "text": "<b>x</b>"}},
		{"invalid", `{"type":`, false, nil},
		{"trailing garbage", `{"type":"leave"} x`, false, nil},
		{"array", `["type","leave"]`, false, nil},
		{"string", `"leave"`, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var scratch []byte
			cmd, ok := parseCommand([]byte(tt.in), &scratch)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			got := map[string][]byte{"type": cmd.typ, "text": cmd.text, "name": cmd.name, "to": cmd.to, "room": cmd.room}
			for k, v := range got {
				want, has := tt.want[k]
				if has != (v != nil) || string(v) != want {
					t.Errorf("%s = %q (set %v), want %q (set %v)", k, v, v != nil, want, has)
				}
			}
		})
	}
}
