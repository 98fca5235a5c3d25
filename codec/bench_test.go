package codec_test

import (
	"bytes"
	"testing"

	"edgews/codec"

	"github.com/gobwas/ws"
)

// Next unmasks in place, so a benchmark that decodes the same buffer again
// must not be fooled by a payload it already unmasked. Instead of copying a
// pristine frame in every iteration (which would add a memmove to the
// decoder's figure), the benchmarks decode the same bytes again and again:
//   - text frames carry an all-zero masking key: the unmask still runs the
//     full XOR through ws.Cipher, but leaves the text unchanged, so UTF-8
//     validation sees real text every time;
//   - binary frames carry a real key and simply flip between masked and
//     unmasked, which costs the same and a binary payload does not care about.

func benchDecode(b *testing.B, frames [][]byte) {
	var total int
	for _, f := range frames {
		total += len(f)
	}
	var d codec.Decoder
	b.ReportAllocs()
	b.SetBytes(int64(total))
	for b.Loop() {
		for _, f := range frames {
			if _, n, err := d.Next(f); err != nil || n != len(f) {
				b.Fatalf("n %d err %v", n, err)
			}
		}
	}
}

// BenchmarkDecodeSmall: a 64-byte masked text frame, the chat-message case:
// ASCII (JSON), and text with a 3-byte rune every 5 bytes, where utf8.Valid
// leaves its 8-bytes-at-a-time ASCII path.
func BenchmarkDecodeSmall(b *testing.B) {
	b.Run("ascii", func(b *testing.B) {
		benchDecode(b, [][]byte{frame(true, 0, codec.OpText, []byte(`{"room":"lobby","from":"ada","text":"hello, world, again!!!!"}  `), &[4]byte{})})
	})
	b.Run("utf8", func(b *testing.B) {
		benchDecode(b, [][]byte{frame(true, 0, codec.OpText, append(bytes.Repeat([]byte("a€ "), 12), "abcd"...), &[4]byte{})})
	})
}

// BenchmarkDecodeLarge: a 64 KiB masked binary frame.
func BenchmarkDecodeLarge(b *testing.B) {
	benchDecode(b, [][]byte{frame(true, 0, codec.OpBinary, make([]byte, 64<<10), &testMask)})
}

// BenchmarkDecodeLargeText: a 64 KiB masked text frame (unmask + utf8.Valid).
func BenchmarkDecodeLargeText(b *testing.B) {
	benchDecode(b, [][]byte{frame(true, 0, codec.OpText, bytes.Repeat([]byte("abcdefgh"), 8<<10), &[4]byte{})})
}

// BenchmarkDecodeFragmented: a text message in 4 masked fragments, copied
// into the Decoder's buffer and validated incrementally, with a euro sign
// split across every fragment boundary so the carried UTF-8 state is used.
// 1 KiB stays within the buffer kept between messages (0 allocs); 64 KiB
// drops and regrows it for every message, by design, so that idle
// connections stay small.
func BenchmarkDecodeFragmented(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"1KiB", 1 << 10}, {"64KiB", 64 << 10}} {
		b.Run(size.name, func(b *testing.B) {
			q := size.n / 4
			msg := bytes.Repeat([]byte("x"), size.n)
			for i := 1; i < 4; i++ {
				copy(msg[i*q-1:], "€")
			}
			benchDecode(b, [][]byte{
				frame(false, 0, codec.OpText, msg[:q], &[4]byte{}),
				frame(false, 0, codec.OpContinuation, msg[q:2*q], &[4]byte{}),
				frame(false, 0, codec.OpContinuation, msg[2*q:3*q], &[4]byte{}),
				frame(true, 0, codec.OpContinuation, msg[3*q:], &[4]byte{}),
			})
		})
	}
}

// BenchmarkUnmask: ws.Cipher, the in-place unmask Next uses.
func BenchmarkUnmask(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"1KiB", 1 << 10}, {"64KiB", 64 << 10}} {
		b.Run(size.name, func(b *testing.B) {
			p := make([]byte, size.n)
			b.ReportAllocs()
			b.SetBytes(int64(size.n))
			for b.Loop() {
				ws.Cipher(p, testMask, 0)
			}
		})
	}
}

// BenchmarkAppendFrame: encoding into a reused buffer, unmasked (server to
// client) and masked (the bench client).
func BenchmarkAppendFrame(b *testing.B) {
	for _, bc := range []struct {
		name string
		n    int
		mask *[4]byte
	}{
		{"64B", 64, nil},
		{"64KiB", 64 << 10, nil},
		{"64B/masked", 64, &testMask},
		{"64KiB/masked", 64 << 10, &testMask},
	} {
		b.Run(bc.name, func(b *testing.B) {
			payload := make([]byte, bc.n)
			dst := make([]byte, 0, bc.n+ws.MaxHeaderSize)
			b.ReportAllocs()
			b.SetBytes(int64(bc.n))
			for b.Loop() {
				dst = codec.AppendFrame(dst[:0], true, codec.OpBinary, payload, bc.mask)
			}
		})
	}
}

func TestBenchFrames(t *testing.T) {
	if n := len(`{"room":"lobby","from":"ada","text":"hello, world, again!!!!"}  `); n != 64 {
		t.Fatalf("ascii payload is %d bytes", n)
	}
	if n := len(append(bytes.Repeat([]byte("a€ "), 12), "abcd"...)); n != 64 {
		t.Fatalf("utf8 payload is %d bytes", n)
	}
}
