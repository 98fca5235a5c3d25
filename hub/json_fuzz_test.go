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
		for k, v := range map[string][]byte{"type": cmd.typ, "text": cmd.text, "name": cmd.name, "to": cmd.to, "room": cmd.room} {
			s, isString := ref[k].(string)
			if isString != (v != nil) || s != string(v) {
				t.Fatalf("%s = %q, encoding/json has %#v", k, v, ref[k])
			}
		}
	})
}
