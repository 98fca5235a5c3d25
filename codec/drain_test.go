package codec_test

import (
	"bytes"
	"fmt"
	"testing"

	"edgews/codec"
)

func TestDrain(t *testing.T) {
	m := &testMask
	bye := frame(true, 0, codec.OpClose, closePayload(1000, "bye"), m)
	byeRecord := record{Kind: codec.KindClose, Op: codec.OpClose, Payload: string(closePayload(1000, "bye")), Code: 1000, Reason: "bye"}
	big := frame(true, 0, codec.OpBinary, bytes.Repeat([]byte{7}, 1000), m) // 8-byte header

	tests := []struct {
		name     string
		maxFrame int64
		start    bool     // StartDrain before the first byte (the engine closed first)
		chunks   [][]byte // what arrives, one Peek at a time
		want     []record // the error that started drain mode (if any), then drain mode's events
		maxKept  int      // the most bytes left buffered after any chunk
	}{
		{
			name:     "too-big frame: payload skipped in pieces, then the close",
			maxFrame: 100,
			chunks:   append(split(big, 8, 300, 300, 300), bye),
			want:     []record{{Err: codec.ErrFrameTooBig}, byeRecord},
			maxKept:  0, // the payload never piles up in the caller's buffer
		},
		{
			name:     "too-big frame: header split, close arrives with the tail",
			maxFrame: 100,
			chunks:   split(cat(big, bye), 3, 500, 505),
			want:     []record{{Err: codec.ErrFrameTooBig}, byeRecord},
			maxKept:  3, // the incomplete header
		},
		{
			name:  "engine closed first: data, pings, pongs and fragments are skipped",
			start: true,
			chunks: cat2(
				split(frame(true, 0, codec.OpText, bytes.Repeat([]byte("x"), 50), m), 20),
				[][]byte{
					frame(true, 0, codec.OpPing, []byte("ping"), m),
					frame(true, 0, codec.OpPong, nil, m),
					frame(false, 0, codec.OpText, []byte("frag"), m),
					frame(true, 0, codec.OpContinuation, []byte("ment"), m),
					frame(true, 0, codec.OpClose, closePayload(5000, "\xff"), m), // invalid code and reason: lenient
					frame(true, 0, codec.OpClose, nil, m),
					frame(true, 0, codec.OpClose, []byte{3}, m),
				},
			),
			want: []record{
				{Kind: codec.KindClose, Op: codec.OpClose, Payload: "\x13\x88\xff", Code: 5000, Reason: "\xff"},
				{Kind: codec.KindClose, Op: codec.OpClose, Code: codec.StatusNoStatusRcvd},
				{Kind: codec.KindClose, Op: codec.OpClose, Payload: "\x03", Code: codec.StatusNoStatusRcvd},
			},
			maxKept: 0,
		},
		{
			name:  "frames that would be errors are skipped",
			start: true,
			chunks: [][]byte{
				frame(true, 4, codec.OpText, []byte("rsv"), m),
				frame(true, 0, 0x3, []byte("reserved"), m),
				frame(true, 0, 0xb, nil, m),
				frame(true, 0, codec.OpBinary, []byte("unmasked"), nil),
				frame(true, 0, codec.OpPing, make([]byte, 200), m),
				frame(true, 0, codec.OpContinuation, []byte("orphan"), m),
				frame(true, 0, codec.OpText, []byte("\xff"), m),
				frame(true, 0, codec.OpBinary, make([]byte, 2<<20), m),     // over DefaultMaxFrameSize
				frame(true, 0, codec.OpClose, closePayload(1001, ""), nil), // unmasked close is still a close
			},
			want:    []record{{Kind: codec.KindClose, Op: codec.OpClose, Payload: "\x03\xe9", Code: 1001, Reason: ""}},
			maxKept: 0,
		},
		{
			name:    "close larger than 125 bytes is not a close",
			start:   true,
			chunks:  [][]byte{frame(true, 0, codec.OpClose, closePayload(1000, string(make([]byte, 200))), m), bye},
			want:    []record{byeRecord},
			maxKept: 0,
		},
		{
			name:    "64-bit length with MSB set: everything after it is consumed",
			chunks:  [][]byte{cat(hdr(true, 0, codec.OpBinary, 1<<63, m), bye), bye, bye[:3]},
			want:    []record{{Err: codec.ErrLengthOverflow}},
			maxKept: 0,
		},
		{
			name:    "invalid UTF-8 frame was consumed whole",
			chunks:  [][]byte{cat(frame(true, 0, codec.OpText, []byte("\xff"), m), bye)},
			want:    []record{{Err: codec.ErrInvalidUTF8}, byeRecord},
			maxKept: 0,
		},
		{
			name:     "error inside a fragmented message drops the message",
			maxFrame: 100,
			chunks: [][]byte{
				frame(false, 0, codec.OpText, []byte("ab"), m),
				frame(false, 0, codec.OpContinuation, make([]byte, 101), m),
				frame(true, 0, codec.OpContinuation, []byte("cd"), m),
				bye,
			},
			want:    []record{{Err: codec.ErrFrameTooBig}, byeRecord},
			maxKept: 0,
		},
		{
			name:    "incomplete close waits",
			start:   true,
			chunks:  split(bye, 1, 1, 1, 1, 1, 1, 1, 1),
			want:    []record{byeRecord},
			maxKept: len(bye) - 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &codec.Decoder{MaxFrameSize: tc.maxFrame}
			if tc.start {
				d.StartDrain()
			}
			s := stream{t: t, d: d}
			for i, c := range tc.chunks {
				s.feed(c)
				if len(s.pending) > tc.maxKept {
					t.Fatalf("after chunk %d: %d bytes left buffered, want <= %d", i, len(s.pending), tc.maxKept)
				}
			}
			if !d.Draining() {
				t.Fatal("not draining")
			}
			if d.Fragmented() {
				t.Fatal("drain mode kept a fragmented message")
			}
			if fmt.Sprint(s.out) != fmt.Sprint(tc.want) {
				t.Fatalf("got  %+v\nwant %+v", s.out, tc.want)
			}
		})
	}
}

// TestDrainSkipsErrorFrameByteByByte checks the skip count of the offending
// frame when its payload trickles in one byte at a time.
func TestDrainSkipsErrorFrameByteByByte(t *testing.T) {
	d := codec.Decoder{MaxFrameSize: 10}
	f := frame(true, 0, codec.OpBinary, []byte("0123456789A"), &testMask)
	hl := codec.HeaderLen(11, true)
	if _, n, err := d.Next(f[:hl]); err != codec.ErrFrameTooBig || n != hl {
		t.Fatalf("n %d, err %v", n, err)
	}
	d.StartDrain()
	for i := hl; i < len(f); i++ {
		if ev, n, err := d.Next(f[i : i+1]); ev.Kind != codec.KindNone || n != 1 || err != nil {
			t.Fatalf("payload byte %d: kind %v, n %d, err %v", i-hl, ev.Kind, n, err)
		}
	}
	closing := frame(true, 0, codec.OpClose, nil, &testMask)
	if ev, n, err := d.Next(closing); ev.Kind != codec.KindClose || n != len(closing) || err != nil {
		t.Fatalf("close after the skipped payload: kind %v, n %d, err %v", ev.Kind, n, err)
	}
}

// split cuts b into chunks of the given sizes, the last chunk taking the rest.
func split(b []byte, sizes ...int) [][]byte {
	var out [][]byte
	for _, s := range sizes {
		s = min(s, len(b))
		out = append(out, b[:s])
		b = b[s:]
	}
	if len(b) > 0 {
		out = append(out, b)
	}
	return out
}

func cat2(parts ...[][]byte) [][]byte {
	var out [][]byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
