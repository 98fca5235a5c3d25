package codec

import (
	"encoding/binary"

	"github.com/gobwas/ws"
)

// StartDrain switches the Decoder to drain mode, for the time between sending
// a close frame and receiving the peer's: it clears a pending error, drops any
// fragmented message and frees its buffer.
//
// In drain mode Next never returns an error and returns only KindClose or
// KindNone. It skips data frames, pings and pongs, also when only part of
// their payload has arrived: it consumes the bytes that are there and
// remembers how many payload bytes remain, so the caller's buffer never holds
// more than an incomplete header or close frame (at most 139 bytes). It first skips the rest of the payload of the
// frame that caused the pending error, when that frame's length was known. A
// close frame's code is parsed leniently: no checks on the code, the reason
// or the header bits; StatusNoStatusRcvd when there is no code. If the stream
// cannot be parsed any more (a 64-bit length with its most significant bit
// set), Next consumes everything it is given (n == len(buf)).
func (d *Decoder) StartDrain() {
	d.draining = true
	d.err = nil
	d.fragOp = 0
	d.utf8 = utf8Accept
	d.msg = nil
	// d.skip is kept: it is the unread payload of the offending frame.
}

// Draining reports whether StartDrain has been called since the last Reset.
func (d *Decoder) Draining() bool { return d.draining }

// drain is Next in drain mode.
func (d *Decoder) drain(buf []byte) (Event, int, error) {
	switch {
	case d.skip < 0:
		return Event{}, len(buf), nil
	case d.skip > 0:
		k := min(d.skip, int64(len(buf)))
		d.skip -= k
		return Event{}, int(k), nil
	}
	var h ws.Header
	hl := parseHeader(buf, &h)
	if hl == 0 {
		return Event{}, 0, nil
	}
	if h.Length < 0 {
		d.skip = -1
		return Event{}, len(buf), nil
	}
	if h.OpCode == OpClose && h.Length <= MaxControlPayload {
		// Wait for the whole close: it is at most 139 bytes with its header.
		if int64(len(buf)-hl) < h.Length {
			return Event{}, 0, nil
		}
		n := hl + int(h.Length)
		p := buf[hl:n]
		if h.Masked {
			ws.Cipher(p, h.Mask, 0)
		}
		ev := Event{Kind: KindClose, Op: OpClose, Payload: p, Code: StatusNoStatusRcvd}
		if len(p) >= 2 {
			ev.Code = StatusCode(binary.BigEndian.Uint16(p))
			ev.Reason = p[2:]
		}
		return ev, n, nil
	}
	// Anything else is skipped, as much of it as is here; the rest of the
	// payload is counted in d.skip instead of being buffered by the caller.
	if avail := int64(len(buf) - hl); h.Length > avail {
		d.skip = h.Length - avail
		return Event{}, len(buf), nil
	}
	return Event{}, hl + int(h.Length), nil
}
