package codec

import (
	"encoding/binary"
	"math/rand/v2"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// HeaderLen returns the size of the header of a frame with payloadLen payload
// bytes: 2, 4 or 10 bytes, plus 4 when masked.
func HeaderLen(payloadLen int, masked bool) int {
	n := 2
	switch {
	case payloadLen > 0xffff:
		n = 10
	case payloadLen > MaxControlPayload:
		n = 4
	}
	if masked {
		n += 4
	}
	return n
}

// AppendHeader appends a frame header to dst and returns the extended slice.
// RSV bits are zero; the length uses the shortest encoding. With mask != nil
// the MASK bit and the key are written; the payload the caller appends must
// then be masked with the same key (ws.Cipher with offset 0). It panics if
// payloadLen is negative.
//
// AppendHeader does not enforce the control-frame rules (FIN set, payload at
// most MaxControlPayload); that is the caller's job.
func AppendHeader(dst []byte, fin bool, op OpCode, payloadLen int, mask *[4]byte) []byte {
	if payloadLen < 0 {
		panic("codec: negative payload length")
	}
	// Built in a stack array and appended once: one capacity check on dst
	// instead of one per byte.
	var h [ws.MaxHeaderSize]byte
	h[0] = byte(op) & 0x0f
	if fin {
		h[0] |= 0x80
	}
	n := 2
	switch {
	case payloadLen > 0xffff:
		h[1] = 127
		binary.BigEndian.PutUint64(h[2:10], uint64(payloadLen))
		n = 10
	case payloadLen > MaxControlPayload:
		h[1] = 126
		binary.BigEndian.PutUint16(h[2:4], uint16(payloadLen))
		n = 4
	default:
		h[1] = byte(payloadLen)
	}
	if mask != nil {
		h[1] |= 0x80
		n += copy(h[n:], mask[:])
	}
	return append(dst, h[:n]...)
}

// AppendFrame appends a whole frame to dst and returns the extended slice.
// The payload is copied, and masked with *mask when mask != nil (client
// frames); the caller's payload is not modified. It allocates only if dst is
// too small.
func AppendFrame(dst []byte, fin bool, op OpCode, payload []byte, mask *[4]byte) []byte {
	dst = AppendHeader(dst, fin, op, len(payload), mask)
	start := len(dst)
	dst = append(dst, payload...)
	if mask != nil {
		ws.Cipher(dst[start:], *mask, 0)
	}
	return dst
}

// maxCloseReason is the longest reason that fits a close payload.
const maxCloseReason = MaxControlPayload - 2

// AppendClose appends a close frame to dst and returns the extended slice.
// Code 0 gives an empty payload (reason ignored). Otherwise the payload is the
// code and the reason, which is truncated at a rune boundary to fit 123 bytes.
// With mask != nil the frame is masked (client frames).
func AppendClose(dst []byte, code StatusCode, reason string, mask *[4]byte) []byte {
	if code == 0 {
		return AppendHeader(dst, true, OpClose, 0, mask)
	}
	if len(reason) > maxCloseReason {
		cut := maxCloseReason
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	dst = AppendHeader(dst, true, OpClose, 2+len(reason), mask)
	start := len(dst)
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	dst = append(dst, reason...)
	if mask != nil {
		ws.Cipher(dst[start:], *mask, 0)
	}
	return dst
}

// NewMask returns a random masking key for a client frame, without
// allocating. RFC 6455 asks for a key the network path cannot predict, not a
// secret: math/rand/v2's global generator (ChaCha8, randomly seeded, safe for
// concurrent use without a lock) is enough, and cheaper than crypto/rand.
func NewMask() (m [4]byte) {
	binary.LittleEndian.PutUint32(m[:], rand.Uint32())
	return m
}
