package hub

import (
	"encoding/json"
	"unicode/utf16"
	"unicode/utf8"
)

// ProtocolJSON is the subprotocol (Sec-WebSocket-Protocol) of the JSON
// chat: typed events from the server, JSON commands from the client.
const ProtocolJSON = "chat.v1+json"

// appendJSONString appends s as a JSON string. Text frames are valid
// UTF-8 (the codec closes with 1007 otherwise), so bytes from 0x80 up
// pass through; only quotes, backslashes and control characters are
// escaped. Unlike strconv.AppendQuote, whose \x escapes are not JSON.
func appendJSONString[T string | []byte](b []byte, s T) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	return append(append(b, s[start:]...), '"')
}

// jsonLen is the length of s as a JSON string by appendJSONString,
// without its quotes. A table, not a switch: it runs on every stored
// message, and most bytes add nothing.
func jsonLen[T string | []byte](s T) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		n += int(jsonExtra[s[i]])
	}
	return n
}

// jsonExtra is how many bytes appendJSONString adds for each byte: 1 for
// the two-character escapes, 5 for the other control characters (\u00XX).
var jsonExtra = func() (t [256]uint8) {
	for c := range 0x20 {
		t[c] = 5
	}
	for _, c := range []byte{'"', '\\', '\n', '\r', '\t'} {
		t[c] = 1
	}
	return t
}()

// command is a client's JSON command, e.g. {"type":"message","text":"hi"}.
// Its fields point into the message payload or into Member.scratch: valid
// during OnMessage only. Missing fields are nil, and so are fields whose
// last value is not a string (then marked in wrong).
type command struct {
	typ, text, name, to, room, token []byte
	epoch                            []byte // join: the history epoch to resume
	since                            []byte // join: the offset to resume after (a JSON number as sent, or a string)
	wrong                            field  // fields whose last value has another type (since: neither a number nor a string)
}

// field is a command field, as a bit of command.wrong.
type field uint8

const (
	fieldType field = 1 << iota
	fieldText
	fieldName
	fieldTo
	fieldRoom
	fieldToken
	fieldEpoch
	fieldSince
)

// fieldNames are the fields' JSON names, by bit number.
var fieldNames = [...]string{"type", "text", "name", "to", "room", "token", "epoch", "since"}

func (f field) String() string {
	for i, name := range fieldNames {
		if f&(1<<i) != 0 {
			return name
		}
	}
	return ""
}

// maxKeyLen is the longest known field name, fieldMaxRaw its longest
// escaped form (\uXXXX for each byte): a longer key is none of them.
const (
	maxKeyLen   = len("since")
	fieldMaxRaw = 6 * maxKeyLen
)

// parseCommand reads a JSON command object. ok is false if p is not valid
// JSON or not an object. Unknown fields are ignored, a repeated field's
// last value wins (as encoding/json decodes it into a map), and a known
// field whose value is not a string (null included) is nil and marked in
// cmd.wrong. Why not encoding/json's Unmarshal: it allocates a string per
// field, and {"type":"message"} is the message path of JSON clients.
// json.Valid checks the syntax without allocating (its scanner is pooled),
// so the walk below may assume well-formed input.
func parseCommand(p []byte, scratch *[]byte) (cmd command, ok bool) {
	if !json.Valid(p) {
		return cmd, false
	}
	i := skipSpace(p, 0)
	if p[i] != '{' {
		return cmd, false
	}
	*scratch = (*scratch)[:0]
	var keyBuf [fieldMaxRaw]byte // an escaped key, unescaped (on the stack)
	i++
	for {
		i = skipSpace(p, i)
		if p[i] == '}' {
			return cmd, true
		}
		if p[i] == ',' {
			i = skipSpace(p, i+1)
		}
		kEnd, kEscaped := stringEnd(p, i)
		key := p[i+1 : kEnd-1]
		if kEscaped && len(key) <= fieldMaxRaw {
			key = appendUnescaped(keyBuf[:0], key)
		}
		i = skipSpace(p, kEnd)
		i = skipSpace(p, i+1) // ':'
		var val []byte
		isString := p[i] == '"'
		if isString {
			end, escaped := stringEnd(p, i)
			val = p[i+1 : end-1]
			if escaped {
				n := len(*scratch)
				*scratch = appendUnescaped(*scratch, val)
				val = (*scratch)[n:]
			}
			i = end
		} else {
			end := valueEnd(p, i)
			if c := p[i]; c == '-' || '0' <= c && c <= '9' {
				val = p[i:end] // a number: kept for since only
			}
			i = end
		}
		var f field
		var dst *[]byte
		switch string(key) {
		case "type":
			f, dst = fieldType, &cmd.typ
		case "text":
			f, dst = fieldText, &cmd.text
		case "name":
			f, dst = fieldName, &cmd.name
		case "to":
			f, dst = fieldTo, &cmd.to
		case "room":
			f, dst = fieldRoom, &cmd.room
		case "token":
			f, dst = fieldToken, &cmd.token
		case "epoch":
			f, dst = fieldEpoch, &cmd.epoch
		case "since": // a number, or a string of digits
			f, dst = fieldSince, &cmd.since
			isString = isString || val != nil
		default:
			continue
		}
		if isString {
			*dst = val
			cmd.wrong &^= f
		} else {
			*dst = nil
			cmd.wrong |= f
		}
	}
}

func skipSpace(p []byte, i int) int {
	for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the string starting at p[i] (a quote)
// and whether it holds escapes.
func stringEnd(p []byte, i int) (end int, escaped bool) {
	for i++; p[i] != '"'; i++ {
		if p[i] == '\\' {
			escaped = true
			i++
		}
	}
	return i + 1, escaped
}

// valueEnd returns the index after the non-string value starting at p[i]:
// a number, a literal, or an object or array (with nested strings).
func valueEnd(p []byte, i int) int {
	depth := 0
	for ; i < len(p); i++ {
		switch p[i] {
		case '"':
			end, _ := stringEnd(p, i)
			i = end - 1
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				return i
			}
		}
	}
	return i
}

// appendUnescaped appends the JSON string content s (between the quotes,
// valid JSON) with its escapes decoded. Unpaired surrogates become U+FFFD,
// as encoding/json decodes them.
func appendUnescaped(b, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r := hex4(s[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2 = hex4(s[i+2:])
				}
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					r = d
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			b = utf8.AppendRune(b, r)
			continue
		default: // '"', '\\', '/'
			b = append(b, s[i+1])
		}
		i += 2
	}
	return b
}

// hex4 decodes the four hex digits at the start of s (valid JSON).
func hex4(s []byte) rune {
	var r rune
	for _, c := range s[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}
