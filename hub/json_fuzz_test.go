package hub

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzParseCommand checks parseCommand against encoding/json: same
// verdict on validity, same string fields.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		`{"type":"message","text":"hi"}`,
		`{"type":"whisper","to":"bob","text":"a\"b\u00e9\ud83d\ude00"}`,
		`{"o":{"text":[1,"}"]},"type":"join","room":"x"}`,
		`{"text":"\ud800\u0041"}`,
		` {"type" : "nick" , "name" : null } `,
		`{"type":"join","room":"games","since":41,"epoch":"9f2c41d0-3"}`,
		`{"type":"join","since":"41"}`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		if !utf8.Valid(p) {
			return // text frames are valid UTF-8 (the codec closes 1007)
		}
		var scratch []byte
		cmd, ok := parseCommand(p, &scratch)
		var ref map[string]any
		refOK := json.Unmarshal(p, &ref) == nil && ref != nil
		if ok != refOK {
			t.Fatalf("parseCommand ok = %v, encoding/json ok = %v", ok, refOK)
		}
		if !ok {
			return
		}
		switch v := ref["since"].(type) {
		case float64: // the number as sent
			if n, err := json.Number(cmd.since).Float64(); err != nil || n != v {
				t.Fatalf("since = %q, encoding/json has %v", cmd.since, v)
			}
		case string:
			if string(cmd.since) != v {
				t.Fatalf("since = %q, encoding/json has %q", cmd.since, v)
			}
		}
		for k, v := range map[string][]byte{"type": cmd.typ, "text": cmd.text, "name": cmd.name, "to": cmd.to, "room": cmd.room, "epoch": cmd.epoch} {
			s, isString := ref[k].(string)
			if isString != (v != nil) || s != string(v) {
				t.Fatalf("%s = %q, encoding/json has %#v", k, v, ref[k])
			}
		}
	})
}
