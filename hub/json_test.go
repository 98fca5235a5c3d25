package hub

import (
	"encoding/json"
	"strconv"
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
		name  string
		in    string
		ok    bool
		want  map[string]string // field -> value; absent: nil
		wrong field             // fields given another type than string
	}{
		{"message", `{"type":"message","text":"hi"}`, true, map[string]string{"type": "message", "text": "hi"}, 0},
		{"spaces", " { \"type\" : \"nick\" , \"name\" : \"bob\" } ", true, map[string]string{"type": "nick", "name": "bob"}, 0},
		{"whisper", `{"type":"whisper","to":"bob","text":"psst"}`, true, map[string]string{"type": "whisper", "to": "bob", "text": "psst"}, 0},
		{"join", `{"type":"join","room":"games"}`, true, map[string]string{"type": "join", "room": "games"}, 0},
		{"empty object", `{}`, true, map[string]string{}, 0},
		{"escapes", `{"type":"message","text":"a\"b\\c\/d\n\u00e9\ud83d\ude00"}`, true, map[string]string{"type": "message", "text": "a\"b\\c/d\né😀"}, 0},
		{"lone surrogate", `{"text":"\ud800x"}`, true, map[string]string{"text": "\ufffdx"}, 0},
		{"two escaped fields", `{"type":"m\u0065ssage","text":"\u0041"}`, true, map[string]string{"type": "message", "text": "A"}, 0},
		{"other types skipped", `{"n":1.5e3,"b":true,"z":null,"o":{"text":"inner","a":[1,"]",{}]},"type":"users"}`, true, map[string]string{"type": "users"}, 0},
		{"last wins", `{"type":"a","type":"leave"}`, true, map[string]string{"type": "leave"}, 0},
		{"non-string text", `{"type":"message","text":5}`, true, map[string]string{"type": "message"}, fieldText},
		{"null name", `{"type":"nick","name":null}`, true, map[string]string{"type": "nick"}, fieldName},
		{"object to, array room", `{"to":{"a":"b"},"room":["x"],"type":"whisper"}`, true, map[string]string{"type": "whisper"}, fieldTo | fieldRoom},
		{"non-string type", `{"type":true,"text":"x"}`, true, map[string]string{"text": "x"}, fieldType},
		{"last wins over a wrong type", `{"text":5,"text":"ok"}`, true, map[string]string{"text": "ok"}, 0},
		{"a wrong type wins last", `{"text":"ok","text":false}`, true, map[string]string{}, fieldText},
		{"since as a number", `{"since":41}`, true, map[string]string{"since": "41"}, 0},
		{"since as a string", `{"since":"41"}`, true, map[string]string{"since": "41"}, 0},
		{"since as a bool", `{"since":true}`, true, map[string]string{}, fieldSince},
		{"escaped keys", `{"t\u0079pe":"message","\u0074\u0065\u0078\u0074":"hi"}`, true, map[string]string{"type": "message", "text": "hi"}, 0},
		{"long escaped key", `{"\u0074\u0065\u0078\u0074\u0074\u0065\u0078\u0074x":"hi"}`, true, map[string]string{}, 0},
		{"html verbatim", `{"type":"message","text":"<b>x</b>"}`, true, map[string]string{"type": "message", "text": "<b>x</b>"}, 0},
		{"invalid", `{"type":`, false, nil, 0},
		{"trailing garbage", `{"type":"leave"} x`, false, nil, 0},
		{"array", `["type","leave"]`, false, nil, 0},
		{"string", `"leave"`, false, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var scratch []byte
			cmd, ok := parseCommand([]byte(tt.in), &scratch)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if cmd.wrong != tt.wrong {
				t.Errorf("wrong = %08b, want %08b", cmd.wrong, tt.wrong)
			}
			got := map[string][]byte{"type": cmd.typ, "text": cmd.text, "name": cmd.name, "to": cmd.to, "room": cmd.room, "since": cmd.since}
			for k, v := range got {
				want, has := tt.want[k]
				if has != (v != nil) || string(v) != want {
					t.Errorf("%s = %q (set %v), want %q (set %v)", k, v, v != nil, want, has)
				}
			}
		})
	}
}

// BenchmarkParseCommand parses a JSON client's typical message, and one
// with escapes: the message path of JSON clients, in place.
func BenchmarkParseCommand(b *testing.B) {
	for _, s := range []string{
		`{"type":"message","text":"hello everyone, how are you doing today?"}`,
		`{"type":"message","text":"say \"hi\"\n\u00e9 \ud83d\ude00","id":7}`,
	} {
		b.Run(strconv.Itoa(len(s)), func(b *testing.B) {
			p := []byte(s)
			var scratch []byte
			b.ReportAllocs()
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				if _, ok := parseCommand(p, &scratch); !ok {
					b.Fatal("not parsed")
				}
			}
		})
	}
}
