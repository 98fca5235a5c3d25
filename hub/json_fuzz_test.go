package hub

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzParseCommand checks parseCommand against encoding/json: same
// verdict on validity, same string fields, and the same verdict on each
// known field's type (wrong: present with another type than string; since
// may also be a number); a command's checks (checkFields) refuse exactly
// the commands whose needed fields encoding/json does not find as strings.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		`{"type":"message","text":"hi"}`,
		`{"type":"whisper","to":"bob","text":"a\"b\u00e9\ud83d\ude00"}`,
		`{"o":{"text":[1,"}"]},"type":"join","room":"x"}`,
		`{"text":"\ud800\u0041"}`,
		` {"type" : "nick" , "name" : null } `,
		`{"type":"join","room":"games","since":41,"epoch":"9f2c41d0-3"}`,
		`{"type":"join","since":"41"}`,
		`{"type":"message","text":5}`,
		`{"type":"whisper","to":["bob"],"text":{"a":1}}`,
		`{"text":"x","text":false,"type":"me"}`,
		`{"t\u0079pe":"message","\u0074ext":"hi"}`,
		`{"type":"join","room":"x","since":true,"epoch":7}`,
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
		var wrong field
		switch v, has := ref["since"]; v := v.(type) {
		case float64: // the number as sent
			if n, err := json.Number(cmd.since).Float64(); err != nil || n != v {
				t.Fatalf("since = %q, encoding/json has %v", cmd.since, v)
			}
		case string:
			if string(cmd.since) != v {
				t.Fatalf("since = %q, encoding/json has %q", cmd.since, v)
			}
		default:
			if cmd.since != nil {
				t.Fatalf("since = %q, encoding/json has %#v", cmd.since, v)
			}
			if has {
				wrong |= fieldSince
			}
		}
		for i, v := range [...][]byte{cmd.typ, cmd.text, cmd.name, cmd.to, cmd.room, cmd.token, cmd.epoch} {
			k := fieldNames[i]
			r, has := ref[k]
			s, isString := r.(string)
			if isString != (v != nil) || s != string(v) {
				t.Fatalf("%s = %q, encoding/json has %#v", k, v, r)
			}
			if has && !isString {
				wrong |= 1 << i
			}
		}
		if cmd.wrong != wrong {
			t.Fatalf("wrong = %08b (%v), encoding/json's types say %08b", cmd.wrong, cmd.wrong, wrong)
		}
		// What checkFields refuses: a needed field encoding/json does not
		// have as a string, or an optional one of another type.
		for typ, spec := range jsonCommands {
			refused := spec.need&^cmd.strings() | cmd.wrong&(spec.need|spec.opt)
			for i, k := range fieldNames {
				f := field(1 << i)
				_, has := ref[k]
				_, isString := ref[k].(string)
				if k == "since" {
					_, isNum := ref[k].(float64)
					isString = isString || isNum
				}
				want := spec.need&f != 0 && !isString || spec.opt&f != 0 && has && !isString
				if (refused&f != 0) != want {
					t.Fatalf("%s: field %s refused = %v, want %v (encoding/json has %#v)", typ, k, refused&f != 0, want, ref[k])
				}
			}
		}
	})
}
