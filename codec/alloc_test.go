//go:build !race

// The race detector allocates on its own, so this file is left out of -race
// builds (as fasthttp's allocation_test.go is).

package codec_test

import (
	"bytes"
	"testing"

	"edgews/codec"
)

// TestDecodeZeroAlloc fails on any allocation while decoding. Each run decodes
// the same bytes again: the text frames use an all-zero masking key, so
// unmasking in place (which still runs the full XOR) leaves them unchanged;
// the binary frames use a real key and flip between masked and unmasked,
// which a binary payload does not care about.
func TestDecodeZeroAlloc(t *testing.T) {
	zero := &[4]byte{}
	m := &testMask
	text := bytes.Repeat([]byte("chat message "), 5)
	tests := []struct {
		name   string
		frames [][]byte
	}{
		{name: "small text", frames: [][]byte{frame(true, 0, codec.OpText, text, zero)}},
		{name: "large binary", frames: [][]byte{frame(true, 0, codec.OpBinary, make([]byte, 1<<20), m)}},
		{name: "control frames", frames: [][]byte{
			frame(true, 0, codec.OpPing, []byte("ping"), m),
			frame(true, 0, codec.OpPong, []byte("pong"), m),
			frame(true, 0, codec.OpClose, closePayload(1000, "bye"), zero),
		}},
		{name: "fragmented text with a ping", frames: [][]byte{
			frame(false, 0, codec.OpText, text, zero),
			frame(true, 0, codec.OpPing, nil, m),
			frame(false, 0, codec.OpContinuation, text, zero),
			frame(true, 0, codec.OpContinuation, text, zero),
		}},
		{name: "fragmented binary", frames: [][]byte{
			frame(false, 0, codec.OpBinary, make([]byte, 1000), m),
			frame(true, 0, codec.OpContinuation, make([]byte, 1000), m),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d codec.Decoder
			run := func() {
				for _, f := range tc.frames {
					if _, n, err := d.Next(f); err != nil || n != len(f) {
						t.Fatalf("n %d err %v", n, err)
					}
				}
			}
			run() // warm-up: grows the fragment buffer once
			if a := testing.AllocsPerRun(100, run); a != 0 {
				t.Fatalf("%v allocs per run, want 0", a)
			}
		})
	}
}

func TestDrainZeroAlloc(t *testing.T) {
	var d codec.Decoder
	d.StartDrain()
	f := cat(frame(true, 0, codec.OpBinary, make([]byte, 1000), &testMask), frame(true, 0, codec.OpClose, nil, &testMask))
	a := testing.AllocsPerRun(100, func() {
		for b := f; len(b) > 0; {
			_, n, _ := d.Next(b[:min(len(b), 100)])
			b = b[n:]
		}
	})
	if a != 0 {
		t.Fatalf("%v allocs per run, want 0", a)
	}
}

func TestEncodeZeroAlloc(t *testing.T) {
	payload := make([]byte, 64<<10)
	dst := make([]byte, 0, 128<<10)
	tests := []struct {
		name string
		fn   func()
	}{
		{"AppendFrame masked", func() { dst = codec.AppendFrame(dst[:0], true, codec.OpBinary, payload, &testMask) }},
		{"AppendFrame", func() { dst = codec.AppendFrame(dst[:0], true, codec.OpText, payload[:100], nil) }},
		{"AppendClose masked", func() { dst = codec.AppendClose(dst[:0], 1001, "going away", &testMask) }},
		{"NewMask", func() { m := codec.NewMask(); dst = append(dst[:0], m[:]...) }},
		{"CloseCode", func() { _ = codec.CloseCode(codec.ErrFrameTooBig) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if a := testing.AllocsPerRun(100, tc.fn); a != 0 {
				t.Fatalf("%v allocs per run, want 0", a)
			}
		})
	}
}

// TestFlateZeroAlloc: compressing a message and inflating one allocate
// nothing once the shared Deflater and Inflater have warmed up.
func TestFlateZeroAlloc(t *testing.T) {
	msg := bytes.Repeat([]byte(`{"type":"message","from":"alice","text":"hello"} `), 20)
	z := codec.NewDeflater(1)
	var f codec.Inflater
	dst := z.AppendCompressedFrame(nil, codec.OpText, msg)
	c := deflateStd(t, msg)
	if n := testing.AllocsPerRun(100, func() { dst = z.AppendCompressedFrame(dst[:0], codec.OpText, msg) }); n != 0 {
		t.Fatalf("AppendCompressedFrame allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = f.Inflate(c, true, 1<<20) }); n != 0 {
		t.Fatalf("Inflate allocates %v times", n)
	}
}
