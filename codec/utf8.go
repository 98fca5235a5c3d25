package codec

import "unicode/utf8"

// ValidUTF8 reports whether p is entirely valid UTF-8, the rule for a text
// message or a close reason. It is utf8.Valid, exported so that code building
// text frames checks them exactly as the decoder will.
func ValidUTF8(p []byte) bool { return utf8.Valid(p) }

// utf8State is the state of an incremental UTF-8 validator: how far into a
// multi-byte rune the bytes seen so far are. It is one byte, so the Decoder can
// carry it between fragments of a text message, where a rune may be split
// across two frames.
//
// The states follow the well-formed byte sequences of the Unicode standard
// (table 3-7): the second byte after E0, ED, F0 and F4 has a narrower range
// (no overlong forms, no surrogates, nothing above U+10FFFF).
type utf8State uint8

const (
	utf8Accept  utf8State = iota // at a rune boundary
	utf8Need1                    // 1 more byte in 80..BF
	utf8Need2                    // 2 more bytes in 80..BF
	utf8Need3                    // 3 more bytes in 80..BF
	utf8AfterE0                  // next byte in A0..BF, then utf8Need1
	utf8AfterED                  // next byte in 80..9F, then utf8Need1
	utf8AfterF0                  // next byte in 90..BF, then utf8Need2
	utf8AfterF4                  // next byte in 80..8F, then utf8Need2
	utf8Reject                   // invalid; absorbing
)

// step advances s over one byte.
func (s utf8State) step(b byte) utf8State {
	switch s {
	case utf8Accept:
		switch {
		case b < 0x80:
			return utf8Accept
		case b < 0xC2: // stray continuation byte, or overlong C0/C1 lead
			return utf8Reject
		case b < 0xE0:
			return utf8Need1
		case b == 0xE0:
			return utf8AfterE0
		case b == 0xED:
			return utf8AfterED
		case b < 0xF0:
			return utf8Need2
		case b == 0xF0:
			return utf8AfterF0
		case b < 0xF4:
			return utf8Need3
		case b == 0xF4:
			return utf8AfterF4
		}
		return utf8Reject
	case utf8Need1, utf8Need2, utf8Need3:
		if b&0xC0 == 0x80 {
			return s - 1 // utf8Need1-1 == utf8Accept
		}
	case utf8AfterE0:
		if b >= 0xA0 && b <= 0xBF {
			return utf8Need1
		}
	case utf8AfterED:
		if b >= 0x80 && b <= 0x9F {
			return utf8Need1
		}
	case utf8AfterF0:
		if b >= 0x90 && b <= 0xBF {
			return utf8Need2
		}
	case utf8AfterF4:
		if b >= 0x80 && b <= 0x8F {
			return utf8Need2
		}
	}
	return utf8Reject
}

// next validates p as the continuation of the bytes that led to s and returns
// the new state: utf8Reject as soon as p holds bytes that no continuation can
// make valid, utf8Accept when p ends on a rune boundary, another state when p
// ends inside a rune.
//
// Speed: stepping the state machine byte by byte runs at a fraction of
// utf8.Valid's speed (which checks 8 ASCII bytes per iteration), so the state
// machine only handles the edges: the rest of a rune begun in the previous
// fragment (at most 3 bytes) and the last, possibly incomplete, rune of p (at
// most 4 bytes). Everything in between is whole runes and goes to utf8.Valid.
func (s utf8State) next(p []byte) utf8State {
	i := 0
	for s != utf8Accept && i < len(p) {
		s = s.step(p[i])
		i++
	}
	if s != utf8Accept { // rejected, or p ended inside the carried rune
		return s
	}
	p = p[i:]
	if len(p) == 0 {
		return s
	}
	// cut is the start of the last rune, found among the last 4 bytes. If none
	// of them starts a rune, p ends with 4 continuation bytes, which no valid
	// text does: leaving cut at len(p) lets utf8.Valid reject it.
	cut := len(p)
	for j := len(p) - 1; j >= 0 && j >= len(p)-utf8.UTFMax; j-- {
		if utf8.RuneStart(p[j]) {
			cut = j
			break
		}
	}
	if !utf8.Valid(p[:cut]) {
		return utf8Reject
	}
	for _, b := range p[cut:] {
		s = s.step(b)
	}
	return s
}
