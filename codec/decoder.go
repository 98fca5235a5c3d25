package codec

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// keepMsgBufCap is the largest fragment buffer a Decoder keeps for the next
// fragmented message. Keeping a small one makes chat-sized fragmented traffic
// allocation-free after the first message; dropping larger ones keeps the
// memory of idle connections small after a burst of big messages.
const keepMsgBufCap = 4 << 10

// Decoder decodes the frames of one connection from the bytes the caller has
// buffered. The zero value is a RoleServer decoder with the default limits.
//
// Frames are decoded only once complete, so the caller's buffer may have to
// hold one whole frame: up to MaxFrameSize plus a 14-byte header.
//
// A Decoder is not safe for concurrent use; call it from the connection's
// event loop only.
type Decoder struct {
	// Role says who sends the frames being decoded and so whether they must
	// be masked. The zero value is RoleServer.
	Role Role

	// Small state, declared next to Role so that the four bytes share one
	// word: a Decoder lives in every connection. Without msg the struct is 48
	// bytes on 64-bit platforms.
	fragOp   OpCode    // OpText or OpBinary while a fragmented message is in progress, else 0
	utf8     utf8State // validator state between the fragments of a text message
	draining bool      // StartDrain was called

	// Deflate says permessage-deflate was negotiated: RSV1 may be set on
	// the first frame of a data message, which then comes out of Next with
	// Event.Compressed set, still compressed (the caller inflates it with a
	// shared Inflater). Without it RSV1 is a protocol error. It shares the
	// word of the fields above, so negotiating costs a connection no bytes.
	Deflate bool
	fragZ   bool // the fragmented message in progress is compressed

	// MaxFrameSize is the largest accepted payload of one frame, in bytes,
	// inclusive. If zero (or negative), DefaultMaxFrameSize is used.
	MaxFrameSize int64
	// MaxMessageSize is the largest accepted payload of a whole message,
	// summed over its fragments, in bytes, inclusive. If zero (or negative),
	// DefaultMaxMessageSize is used.
	MaxMessageSize int64

	// skip is the number of payload bytes still to skip in drain mode. While
	// an error is pending it holds the unread payload of the offending frame,
	// for StartDrain. -1 means the stream cannot be parsed any more.
	skip int64
	err  error  // sticky error, cleared by StartDrain and Reset
	msg  []byte // unmasked payload of the fragmented message so far
}

// Next decodes at most one frame from buf, which holds the connection's bytes
// not yet consumed, and reports in n how many of them it consumed. The caller
// discards those n bytes and passes the rest (plus whatever arrives later) to
// the next call. Call it in a loop while n > 0 or ev.Kind != KindNone.
//
// Next never blocks, and it never allocates except to grow the fragment
// buffer of a fragmented message.
//
//   - If buf does not hold the whole next frame header, or holds the header
//     but not the whole payload, Next returns KindNone, 0, nil and leaves buf
//     untouched. All header checks, including the size limits, are made as
//     soon as the header is complete: a frame over the limits fails at once,
//     without waiting for its payload.
//   - A complete unfragmented data frame gives KindMessage with its payload
//     unmasked in place in buf (no copy) and n the whole frame length.
//     Payload stays valid until the caller discards or reuses those bytes.
//   - A fragment (a data frame with FIN=0, or a continuation frame) is
//     unmasked and appended to the Decoder's message buffer; Next returns
//     KindNone with n > 0. The final continuation gives KindMessage with Op
//     the first fragment's opcode and Payload the message buffer, valid until
//     the next call to Next or Reset.
//   - Control frames (ping, pong, close), also between the fragments of a
//     message, give KindPing, KindPong or KindClose with the payload unmasked
//     in place in buf. A close gives Code and Reason, or Code
//     StatusNoStatusRcvd when the payload is empty.
//   - Text messages must be valid UTF-8. A fragmented text message is checked
//     fragment by fragment, a rune may span fragments, and the first fragment
//     holding bytes that no continuation can make valid fails at once.
//
// On a violation Next returns KindNone, n and one of the Err constants, which
// CloseCode maps to 1002, 1007 or 1009. n is what the caller should discard:
// the offending frame's header when the error was found on the header, the
// whole frame when it was found on the payload. The error is sticky: until
// StartDrain or Reset, Next returns it again with n == 0.
//
// After StartDrain, Next never returns an error and reports only KindClose
// and KindNone; see StartDrain.
func (d *Decoder) Next(buf []byte) (ev Event, n int, err error) {
	if d.err != nil {
		return Event{}, 0, d.err
	}
	if d.draining {
		return d.drain(buf)
	}
	var h ws.Header
	hl := parseHeader(buf, &h)
	if hl == 0 {
		return Event{}, 0, nil
	}
	if err := d.checkHeader(&h); err != nil {
		return Event{}, hl, d.fail(err, h.Length)
	}
	if int64(len(buf)-hl) < h.Length {
		return Event{}, 0, nil
	}
	n = hl + int(h.Length)
	p := buf[hl:n]
	if h.Masked {
		// In place, on the caller's buffer: no copy for a complete frame.
		// Safe because a frame is unmasked only once, when it is whole and
		// about to be consumed.
		ws.Cipher(p, h.Mask, 0)
	}
	// ev is filled through a pointer rather than returned by the helpers:
	// Event plus n and err is 12 words, more than the register ABI returns in
	// registers, and copying it through memory once more cost about 3 ns, a
	// fifth of decoding a 64-byte binary frame.
	if h.OpCode.IsControl() {
		err = d.control(&ev, h.OpCode, p)
	} else {
		err = d.data(&ev, &h, p)
	}
	if err != nil {
		return Event{}, n, err
	}
	return ev, n, nil
}

// parseHeader decodes the frame header at the start of p straight from the
// slice: ws.ReadHeader would need an io.Reader, which makes the buffer escape.
// It returns hl == 0 when p does not hold the whole header yet. A 64-bit
// length with its most significant bit set comes back as a negative Length.
// Non-minimal length encodings are accepted, as most implementations do.
//
// It fills *h rather than returning a ws.Header: a struct holding an array is
// returned through memory, and the copy (wide loads right after the byte
// stores, which the CPU cannot forward) cost about 10 ns per frame, a third
// of decoding a 64-byte binary frame.
func parseHeader(p []byte, h *ws.Header) (hl int) {
	if len(p) < ws.MinHeaderSize {
		return 0
	}
	b0, b1 := p[0], p[1]
	h.Fin = b0&0x80 != 0
	h.Rsv = (b0 & 0x70) >> 4
	h.OpCode = OpCode(b0 & 0x0f)
	h.Masked = b1&0x80 != 0
	ext := 0
	switch b1 & 0x7f {
	case 126:
		ext = 2
	case 127:
		ext = 8
	}
	hl = 2 + ext
	if h.Masked {
		hl += 4
	}
	if len(p) < hl {
		return 0
	}
	switch ext {
	case 0:
		h.Length = int64(b1 & 0x7f)
	case 2:
		h.Length = int64(binary.BigEndian.Uint16(p[2:4]))
	default:
		h.Length = int64(binary.BigEndian.Uint64(p[2:10]))
	}
	if h.Masked {
		copy(h.Mask[:], p[2+ext:hl])
	}
	return hl
}

// checkHeader applies every rule that depends on the header alone.
func (d *Decoder) checkHeader(h *ws.Header) error {
	switch {
	case h.Rsv != 0 && !d.compressedFirst(h):
		if h.Rsv == rsv1>>4 && d.Deflate {
			if h.OpCode.IsControl() {
				return ErrCompressedControl
			}
			return ErrCompressedContinuation
		}
		return ErrNonZeroRsv
	case h.OpCode.IsReserved():
		return ErrReservedOpCode
	case d.Role == RoleServer && !h.Masked:
		return ErrMaskRequired
	case d.Role == RoleClient && h.Masked:
		return ErrMaskUnexpected
	case h.Length < 0:
		return ErrLengthOverflow
	}
	if h.OpCode.IsControl() {
		switch {
		case h.Length > MaxControlPayload:
			return ErrControlTooBig
		case !h.Fin:
			return ErrControlFragmented
		}
		return nil
	}
	switch {
	case h.OpCode == OpContinuation && d.fragOp == 0:
		return ErrUnexpectedContinuation
	case h.OpCode != OpContinuation && d.fragOp != 0:
		return ErrExpectedContinuation
	case h.Length > d.maxFrameSize():
		return ErrFrameTooBig
	case h.Length > d.maxMessageSize()-int64(len(d.msg)): // len(d.msg) is 0 outside a fragmented message
		return ErrMessageTooBig
	}
	return nil
}

// compressedFirst reports whether h is the RSV1-marked first frame of a
// compressed message on a connection that negotiated permessage-deflate.
func (d *Decoder) compressedFirst(h *ws.Header) bool {
	return d.Deflate && h.Rsv == rsv1>>4 && h.OpCode.IsData() && h.OpCode != OpContinuation
}

// control fills ev from a complete, unmasked ping, pong or close payload p.
func (d *Decoder) control(ev *Event, op OpCode, p []byte) error {
	ev.Op = op
	ev.Payload = p
	switch op {
	case OpPing:
		ev.Kind = KindPing
		return nil
	case OpPong:
		ev.Kind = KindPong
		return nil
	}
	ev.Kind = KindClose
	ev.Code = StatusNoStatusRcvd
	switch len(p) {
	case 0:
		return nil
	case 1:
		return d.fail(ErrCloseTooShort, 0)
	}
	ev.Code = StatusCode(binary.BigEndian.Uint16(p))
	if !validCloseCode(ev.Code) {
		return d.fail(ErrInvalidCloseCode, 0)
	}
	ev.Reason = p[2:]
	if !utf8.Valid(ev.Reason) {
		return d.fail(ErrInvalidCloseReason, 0)
	}
	return nil
}

// data fills ev from a complete, unmasked text, binary or continuation
// payload p; ev stays KindNone for a fragment that is not the last.
func (d *Decoder) data(ev *Event, h *ws.Header, p []byte) error {
	if h.OpCode != OpContinuation {
		z := h.Rsv != 0 // checkHeader let RSV1 through: compressed
		if h.Fin {
			// The common case: a whole message in one frame, returned in
			// place. utf8.Valid is the fastest check for a whole payload.
			// A compressed one is checked once inflated.
			if h.OpCode == OpText && !z && !utf8.Valid(p) {
				return d.fail(ErrInvalidUTF8, 0)
			}
			ev.Kind, ev.Op, ev.Payload, ev.Compressed = KindMessage, h.OpCode, p, z
			return nil
		}
		d.fragOp = h.OpCode
		d.fragZ = z
		d.utf8 = utf8Accept
	}
	if d.fragOp == OpText && !d.fragZ {
		// Validate each fragment as it arrives so that garbage fails at the
		// first bad fragment instead of after the whole message is buffered.
		d.utf8 = d.utf8.next(p)
		if d.utf8 == utf8Reject || (h.Fin && d.utf8 != utf8Accept) {
			return d.fail(ErrInvalidUTF8, 0)
		}
	}
	d.msg = append(d.msg, p...)
	if !h.Fin {
		return nil
	}
	ev.Kind, ev.Op, ev.Payload, ev.Compressed = KindMessage, d.fragOp, d.msg, d.fragZ
	d.fragOp, d.fragZ = 0, false
	if cap(d.msg) > keepMsgBufCap {
		d.msg = nil
	} else {
		d.msg = d.msg[:0]
	}
	return nil
}

// fail records err as sticky and returns it. rest is the offending frame's
// payload length not yet consumed (negative: unknown), which StartDrain will
// skip.
func (d *Decoder) fail(err error, rest int64) error {
	d.err = err
	d.skip = max(rest, -1)
	return err
}
func (d *Decoder) maxFrameSize() int64 {
	if d.MaxFrameSize > 0 {
		return d.MaxFrameSize
	}
	return DefaultMaxFrameSize
}

func (d *Decoder) maxMessageSize() int64 {
	if d.MaxMessageSize > 0 {
		return d.MaxMessageSize
	}
	return DefaultMaxMessageSize
}

// Fragmented reports whether a fragmented message is in progress, its
// fragments so far held in the Decoder's buffer. For tests and for the
// engine's memory accounting.
func (d *Decoder) Fragmented() bool { return d.fragOp != 0 }

// Idle reports whether the Decoder holds nothing between calls to Next but
// its configuration (Role, Deflate, the limits) and its fragment buffer: no
// fragmented message in progress, no drain, no pending error. A caller
// that keeps many Decoders can then keep only that configuration, and
// decode the connection's next bytes with any Decoder set up the same way.
func (d *Decoder) Idle() bool {
	return d.fragOp == 0 && !d.draining && d.err == nil && d.skip == 0
}

// BufCap is the capacity of the fragment buffer: the bytes the Decoder keeps
// allocated between calls, for the engine's memory accounting.
func (d *Decoder) BufCap() int { return cap(d.msg) }

// FrameSize is the length, header included, of the next frame, whose
// header starts p, when that header is whole and passes every check Next
// would make on it (the limits included); otherwise 0, and Next reports the
// error or waits for the rest of the header. It lets a caller holding the
// start of a large frame wait until the whole frame is buffered before it
// hands the bytes to Next again. It changes nothing in the Decoder.
func (d *Decoder) FrameSize(p []byte) int64 {
	if d.err != nil || d.draining {
		return 0
	}
	var h ws.Header
	hl := parseHeader(p, &h)
	if hl == 0 || d.checkHeader(&h) != nil {
		return 0
	}
	return int64(hl) + h.Length
}

// Reset returns the Decoder to its initial state: no fragmented message, no
// pending error, not draining, and the fragment buffer freed. It keeps Role,
// MaxFrameSize and MaxMessageSize, so a pooled Decoder can be reused without
// being configured again.
func (d *Decoder) Reset() {
	*d = Decoder{Role: d.Role, Deflate: d.Deflate, MaxFrameSize: d.MaxFrameSize, MaxMessageSize: d.MaxMessageSize}
}
