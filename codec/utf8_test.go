package codec_test

import (
	"testing"
	"unicode/utf8"

	"edgews/codec"
)

// validPrefix is an oracle independent of the state machine: p is a valid
// prefix of some UTF-8 text iff it is valid, or becomes valid with up to 3
// continuation bytes; one of 80, 90, A0, BF fits every range a second byte
// may be restricted to.
func validPrefix(p []byte) bool {
	if utf8.Valid(p) {
		return true
	}
	conts := []byte{0x80, 0x90, 0xa0, 0xbf}
	buf := make([]byte, len(p), len(p)+3)
	copy(buf, p)
	var try func(b []byte, depth int) bool
	try = func(b []byte, depth int) bool {
		if depth == 0 {
			return false
		}
		for _, c := range conts {
			nb := append(b, c)
			if utf8.Valid(nb) || try(nb, depth-1) {
				return true
			}
		}
		return false
	}
	return try(buf, 3)
}

// checkUTF8 validates p in two pieces split at k and compares with the oracles.
func checkUTF8(t *testing.T, p []byte, k int) {
	t.Helper()
	s1 := codec.UTF8Next(codec.UTF8Accept, p[:k])
	if (s1 != codec.UTF8Reject) != validPrefix(p[:k]) {
		t.Fatalf("% x split at %d: first piece state %d, validPrefix %v", p, k, s1, validPrefix(p[:k]))
	}
	s2 := codec.UTF8Next(s1, p[k:])
	if (s2 == codec.UTF8Accept) != utf8.Valid(p) {
		t.Fatalf("% x split at %d: final state %d, utf8.Valid %v", p, k, s2, utf8.Valid(p))
	}
	if (s2 != codec.UTF8Reject) != validPrefix(p) {
		t.Fatalf("% x split at %d: final state %d, validPrefix %v", p, k, s2, validPrefix(p))
	}
}

func TestUTF8Incremental(t *testing.T) {
	tests := []struct {
		name string
		text string
	}{
		{"empty", ""},
		{"ascii", "hello, world"},
		{"mixed", "a€😀ß\u07ff\uffff\U0010ffffz"},
		{"long ascii then rune", "0123456789abcdefghijklmnop€"},
		{"surrogate", "ab\xed\xa0\x80cd"},
		{"overlong 2", "\xc0\xaf"},
		{"overlong 3", "\xe0\x80\xaf"},
		{"overlong 4", "\xf0\x80\x80\xaf"},
		{"above max", "\xf4\x90\x80\x80"},
		{"f5 lead", "abc\xf5"},
		{"stray continuation", "abc\x80def"},
		{"truncated then ascii", "\xe2\x82a"},
		{"five continuation bytes", "a\x80\x80\x80\x80"},
		{"four-byte rune then continuation", "\xf0\x9f\x98\x80\x80"},
		{"autobahn 6.4.1", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := []byte(tc.text)
			for k := 0; k <= len(p); k++ {
				checkUTF8(t, p, k)
			}
		})
	}
}

// TestUTF8Exhaustive checks every sequence of up to two bytes, and every
// three-byte sequence that starts with a lead byte, against the oracles at
// every split.
func TestUTF8Exhaustive(t *testing.T) {
	var p [3]byte
	for a := range 256 {
		p[0] = byte(a)
		checkUTF8(t, p[:1], 0)
		checkUTF8(t, p[:1], 1)
		for b := range 256 {
			p[1] = byte(b)
			for k := 0; k <= 2; k++ {
				checkUTF8(t, p[:2], k)
			}
			if a < 0xe0 || a > 0xf4 || testing.Short() {
				continue
			}
			for _, c := range []byte{0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xf0, 0xff} {
				p[2] = c
				for k := 0; k <= 3; k++ {
					checkUTF8(t, p[:3], k)
				}
			}
		}
	}
}

func TestValidUTF8(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"empty", "", true},
		{"ascii", "abc", true},
		{"euro", "€", true},
		{"invalid", "\xff", false},
		{"surrogate", "\xed\xa0\x80", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := codec.ValidUTF8([]byte(tc.in)); got != tc.want {
				t.Fatalf("ValidUTF8(%q) = %v", tc.in, got)
			}
		})
	}
}
