package hub

import (
	"strconv"
	"unicode/utf8"
)

// MaxNameLen is the longest user or room name, in bytes (names are ASCII).
const MaxNameLen = 32

// validName reports whether s is a valid user or room name: 1 to
// MaxNameLen ASCII letters, digits, '_' or '-'. ASCII only, so that no two
// names look alike, and no name can break a text line ("[name]: ") or a
// path ("../").
func validName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ValidName reports whether s is a valid user or room name (1 to
// MaxNameLen ASCII letters, digits, '_' or '-'), as hub/auth's
// Config.ValidName wants it for the names in tokens.
func ValidName(s string) bool { return validName(s) }

// quoteShort quotes user input for an error line, cut to 40 bytes (on a
// rune boundary) so that an error never echoes a flood back.
func quoteShort(s string) string {
	const max = 40
	if len(s) <= max {
		return strconv.Quote(s)
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strconv.Quote(s[:n]) + "..."
}
