package codec

import (
	"bytes"
	"io"
	"unicode/utf8"

	// klauspost/compress/flate rather than compress/flate: the same API and
	// format, and in BenchmarkFlateImpl (flate_bench_test.go) it deflates a
	// 1 KiB chat-like JSON message 1.6x faster at level 1 (2.2x at level 6)
	// and inflates it 1.3x faster without allocating; see the figures there.
	"github.com/klauspost/compress/flate"
)

// deflateTail is what RFC 7692 section 7.2.2 has the receiver append to a
// compressed message before inflating it: the 00 00 ff ff of the sync flush
// the sender stripped, then an empty final stored block (01 00 00 ff ff) so
// that the inflater reports a clean io.EOF at the end of the message rather
// than io.ErrUnexpectedEOF, which then means "truncated".
const deflateTail = "\x00\x00\xff\xff\x01\x00\x00\xff\xff"

// keepInflateCap is the largest inflate output buffer an Inflater keeps for
// the next message. Chat-sized messages then inflate without allocating;
// after a larger one the buffer is dropped so that an idle loop does not
// hold megabytes.
const keepInflateCap = 64 << 10

// Errors of the permessage-deflate extension (RFC 7692), returned by
// Decoder.Next and Inflater.Inflate.
const (
	ErrCompressedControl      = ProtocolError("codec: compression bit set on a control frame")
	ErrCompressedContinuation = ProtocolError("codec: compression bit set on a continuation frame")
	ErrBadDeflate             = ProtocolError("codec: compressed message does not inflate")
)

// Inflater inflates permessage-deflate messages. It is meant to be shared by
// all the connections of one event loop: with client_no_context_takeover
// negotiated no state survives between messages, so one flate reader serves
// every connection in turn. Not safe for concurrent use.
type Inflater struct {
	fr  io.ReadCloser // flate reader, Reset for every message
	src bytes.Reader  // over in; a *bytes.Reader takes klauspost's fast path
	in  []byte        // compressed message plus deflateTail
	out []byte        // inflated message, valid until the next Inflate
}

// Inflate inflates the compressed payload p of a whole message (all its
// fragments joined) and returns the result, valid until the next call to
// Inflate. It inflates at most limit+1 bytes: a message that would inflate
// to more than limit bytes fails with ErrMessageTooBig (1009) as soon as its
// output passes limit, so the output buffer never grows past limit+1 bytes
// whatever the compression ratio (a "deflate bomb"). A stream that does not
// inflate fails with ErrBadDeflate (1002); a text message that is not valid
// UTF-8 once inflated fails with ErrInvalidUTF8 (1007).
//
// It allocates only to grow its buffers, which it keeps (up to 64 KiB of
// output) for the next message.
func (f *Inflater) Inflate(p []byte, text bool, limit int64) ([]byte, error) {
	// Copied so that the tail can be appended: p usually sits in the
	// connection's read buffer, followed by the next frame's bytes.
	f.in = append(append(f.in[:0], p...), deflateTail...)
	f.src.Reset(f.in)
	if f.fr == nil {
		f.fr = flate.NewReader(&f.src)
	} else if err := f.fr.(flate.Resetter).Reset(&f.src, nil); err != nil {
		return nil, ErrBadDeflate
	}
	out := f.out[:0]
	var err error
	for {
		if len(out) == cap(out) {
			// Grow by doubling, but never past limit+1: one byte over the
			// limit is enough to know the message is too big. len(out) <=
			// limit here, or the loop would have stopped.
			n := int64(max(2*cap(out), 4<<10, len(p)*4))
			n = min(n, limit+1)
			out = append(out, make([]byte, int(n)-len(out))...)[:len(out)]
		}
		// The allocator may round the capacity up: read no further than
		// limit+1 all the same.
		end := int(min(int64(cap(out)), limit+1))
		var n int
		n, err = f.fr.Read(out[len(out):end])
		out = out[:len(out)+n]
		if int64(len(out)) > limit {
			err = ErrMessageTooBig
			break
		}
		if err == io.EOF {
			err = nil
			break
		}
		if err != nil {
			err = ErrBadDeflate
			break
		}
	}
	f.keep(out)
	if err != nil {
		return nil, err
	}
	if text && !utf8.Valid(out) {
		return nil, ErrInvalidUTF8
	}
	return out, nil
}

// keep remembers out's buffer for the next message if it is small enough,
// and drops the input copy if it is large.
func (f *Inflater) keep(out []byte) {
	if cap(out) > keepInflateCap {
		f.out = nil
	} else {
		f.out = out[:0]
	}
	if cap(f.in) > keepInflateCap {
		f.in = nil
	}
}

// Held is the number of buffer bytes the Inflater keeps between messages
// (not counting the flate reader's own state, about 40 KiB once used), for
// memory accounting.
func (f *Inflater) Held() int { return cap(f.in) + cap(f.out) }

// Deflater compresses messages for permessage-deflate. Like Inflater, it is
// shared by the connections of one event loop (server_no_context_takeover:
// every message starts from an empty window). Not safe for concurrent use.
type Deflater struct {
	level int
	fw    *flate.Writer // created on first use: about 300 KiB at level 1
	w     appendWriter
}

// NewDeflater returns a Deflater compressing at level (1 fastest .. 9 best;
// outside that range, DefaultDeflateLevel).
func NewDeflater(level int) *Deflater {
	if level < flate.BestSpeed || level > flate.BestCompression {
		level = DefaultDeflateLevel
	}
	return &Deflater{level: level}
}

// DefaultDeflateLevel is the level NewDeflater uses for an out-of-range
// level: the fastest, because a chat node's messages are short and CPU per
// message matters more than the last few percent of size.
const DefaultDeflateLevel = flate.BestSpeed

// AppendDeflate appends p compressed as one permessage-deflate message (a
// raw deflate stream ending in a sync flush whose 00 00 ff ff is stripped,
// RFC 7692 section 7.2.1) to dst and returns the extended slice. It
// allocates only when dst must grow.
func (z *Deflater) AppendDeflate(dst, p []byte) []byte {
	z.w.b = dst
	if z.fw == nil {
		// The level was checked by NewDeflater; the zero Deflater uses
		// DefaultDeflateLevel.
		fw, err := flate.NewWriter(&z.w, max(z.level, DefaultDeflateLevel))
		if err != nil {
			panic("codec: " + err.Error())
		}
		z.fw = fw
	} else {
		z.fw.Reset(&z.w)
	}
	start := len(dst)
	_, _ = z.fw.Write(p) // appendWriter never fails
	_ = z.fw.Flush()
	out := z.w.b
	z.w.b = nil
	if len(out)-start >= 4 {
		out = out[:len(out)-4]
	}
	return out
}

// AppendCompressedFrame appends a whole unmasked frame with RSV1 set whose
// payload is p compressed, and returns the extended slice. It compresses
// straight into dst, after room for the longest header, then moves the
// payload next to the real header: a memmove of the compressed bytes is
// cheaper than a second buffer.
func (z *Deflater) AppendCompressedFrame(dst []byte, op OpCode, p []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, maxServerHeader)...)
	dst = z.AppendDeflate(dst, p)
	n := len(dst) - start - maxServerHeader
	hl := HeaderLen(n, false)
	copy(dst[start+hl:], dst[start+maxServerHeader:])
	dst = dst[:start+hl+n]
	AppendCompressedHeader(dst[start:start], true, op, n, nil)
	return dst
}

// maxServerHeader is the longest unmasked header.
const maxServerHeader = 10

// AppendCompressedHeader is AppendHeader with RSV1 set, the "per-message
// compressed" bit of RFC 7692: use it for the first frame of a compressed
// message only.
func AppendCompressedHeader(dst []byte, fin bool, op OpCode, payloadLen int, mask *[4]byte) []byte {
	start := len(dst)
	dst = AppendHeader(dst, fin, op, payloadLen, mask)
	dst[start] |= rsv1
	return dst
}

// rsv1 is the per-message-compressed bit in the first header byte.
const rsv1 = 0x40

// appendWriter is an io.Writer appending to a slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}
