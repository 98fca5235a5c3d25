package codec_test

import (
	"encoding/binary"
	"strings"
	"testing"

	"edgews/codec"

	"github.com/gobwas/ws"
)

// testMask is the masking key of the examples in RFC 6455 section 5.7.
var testMask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// bits turns a readable bit string ("1 000 0001") into bytes. Spaces are
// ignored; the number of bits must be a multiple of 8.
func bits(s string) []byte {
	s = strings.ReplaceAll(s, " ", "")
	if len(s)%8 != 0 {
		panic("bits: length not a multiple of 8: " + s)
	}
	out := make([]byte, len(s)/8)
	for i, c := range s {
		switch c {
		case '1':
			out[i/8] |= 0x80 >> (i % 8)
		case '0':
		default:
			panic("bits: bad character in " + s)
		}
	}
	return out
}

// cat concatenates byte slices into a new one.
func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// hdr builds a frame header with any field values, including the ones
// AppendHeader refuses to write (RSV bits, reserved opcodes, huge lengths).
func hdr(fin bool, rsv byte, op codec.OpCode, length uint64, mask *[4]byte) []byte {
	b0 := rsv<<4 | byte(op)
	if fin {
		b0 |= 0x80
	}
	var b []byte
	switch {
	case length < 126:
		b = []byte{b0, byte(length)}
	case length <= 0xffff:
		b = binary.BigEndian.AppendUint16([]byte{b0, 126}, uint16(length))
	default:
		b = binary.BigEndian.AppendUint64([]byte{b0, 127}, length)
	}
	if mask != nil {
		b[1] |= 0x80
		b = append(b, mask[:]...)
	}
	return b
}

// frame builds a whole frame with hdr, masking a copy of payload.
func frame(fin bool, rsv byte, op codec.OpCode, payload []byte, mask *[4]byte) []byte {
	b := hdr(fin, rsv, op, uint64(len(payload)), mask)
	start := len(b)
	b = append(b, payload...)
	if mask != nil {
		ws.Cipher(b[start:], *mask, 0)
	}
	return b
}

// closePayload is a close payload with code and reason.
func closePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// record is an Event or an error, with its payload copied, for comparing
// event sequences.
type record struct {
	Kind    codec.Kind
	Op      codec.OpCode
	Payload string
	Code    codec.StatusCode
	Reason  string
	Err     error
}

func recordOf(ev codec.Event, err error) record {
	return record{
		Kind:    ev.Kind,
		Op:      ev.Op,
		Payload: string(ev.Payload),
		Code:    ev.Code,
		Reason:  string(ev.Reason),
		Err:     err,
	}
}

// stream simulates the engine: bytes arrive in chunks and accumulate in a
// buffer (gnet's inbound buffer); after each chunk Next is called in a loop
// and the consumed bytes are discarded. After the first error it switches to
// drain mode, as the engine does.
type stream struct {
	t       testing.TB
	d       *codec.Decoder
	pending []byte
	out     []record
}

// feed adds chunk to the buffer and decodes what it can.
func (s *stream) feed(chunk []byte) {
	s.pending = append(s.pending, chunk...)
	for {
		ev, n, err := s.d.Next(s.pending)
		if n < 0 || n > len(s.pending) {
			s.t.Fatalf("Next returned n=%d with %d bytes buffered", n, len(s.pending))
		}
		if ev.Kind != codec.KindNone || err != nil {
			s.out = append(s.out, recordOf(ev, err))
		}
		s.pending = s.pending[:copy(s.pending, s.pending[n:])]
		if err != nil {
			if ev.Kind != codec.KindNone {
				s.t.Fatalf("Next returned kind %v with error %v", ev.Kind, err)
			}
			s.d.StartDrain()
			continue
		}
		if n == 0 {
			if ev.Kind != codec.KindNone {
				s.t.Fatalf("Next returned kind %v without consuming bytes", ev.Kind)
			}
			return
		}
	}
}
