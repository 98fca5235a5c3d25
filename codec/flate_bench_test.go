package codec_test

import (
	"bytes"
	stdflate "compress/flate"
	"io"
	"testing"

	"edgews/codec"

	kpflate "github.com/klauspost/compress/flate"
)

// BenchmarkFlateImpl measures the two flate implementations the codec could
// use, on a 1 KiB chat-like JSON message (chatLike), used the way the codec
// uses them (a pooled writer or reader, Reset per message). It decided the
// import in flate.go. On the 2-core build machine (go test -run='^$'
// -bench=FlateImpl -benchmem -benchtime=3000x ./codec), one run:
//
//	deflate/stdlib/level1     8.7 µs/op  383 wire bytes   inflate/stdlib     4.2 µs/op  2 allocs/op
//	deflate/klauspost/level1  5.5 µs/op  379 wire bytes   inflate/klauspost  3.2 µs/op  0 allocs/op
//	deflate/stdlib/level6    15.6 µs/op  369 wire bytes
//	deflate/klauspost/level6  7.0 µs/op  368 wire bytes
func BenchmarkFlateImpl(b *testing.B) {
	type flateWriter interface {
		io.Writer
		Flush() error
		Reset(io.Writer)
	}
	msg := chatJSON[:1024]
	type impl struct {
		name string
		w    func(io.Writer, int) (flateWriter, error)
		r    func(io.Reader) io.ReadCloser
	}
	impls := []impl{
		{name: "stdlib",
			w: func(w io.Writer, l int) (flateWriter, error) {
				return stdflate.NewWriter(w, l)
			},
			r: stdflate.NewReader},
		{name: "klauspost",
			w: func(w io.Writer, l int) (flateWriter, error) {
				return kpflate.NewWriter(w, l)
			},
			r: kpflate.NewReader},
	}
	compressed := deflateStd(b, msg)
	for _, im := range impls {
		for _, level := range []int{1, 6} {
			b.Run("deflate/"+im.name+"/level"+string(rune('0'+level)), func(b *testing.B) {
				var buf bytes.Buffer
				w, _ := im.w(&buf, level)
				b.ReportAllocs()
				b.SetBytes(int64(len(msg)))
				for range b.N {
					buf.Reset()
					w.Reset(&buf)
					w.Write(msg)
					w.Flush()
				}
				b.ReportMetric(float64(buf.Len()-4), "wire-bytes")
			})
		}
		b.Run("inflate/"+im.name, func(b *testing.B) {
			in := append(append([]byte{}, compressed...), 0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff)
			var src bytes.Reader
			src.Reset(in)
			r := im.r(&src)
			out := make([]byte, 4096)
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for range b.N {
				src.Reset(in)
				r.(stdflate.Resetter).Reset(&src, nil)
				n := 0
				for {
					k, err := r.Read(out[n:])
					n += k
					if err != nil {
						break
					}
				}
				if n != len(msg) {
					b.Fatalf("inflated %d bytes", n)
				}
			}
		})
	}
}

// BenchmarkDeflater and BenchmarkInflater measure the codec's API on the
// same message.
func BenchmarkDeflater(b *testing.B) {
	msg := chatJSON[:1024]
	z := codec.NewDeflater(1)
	var dst []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for range b.N {
		dst = z.AppendCompressedFrame(dst[:0], codec.OpText, msg)
	}
	b.ReportMetric(float64(len(dst)), "wire-bytes")
}

func BenchmarkInflater(b *testing.B) {
	msg := chatJSON[:1024]
	c := deflateStd(b, msg)
	var f codec.Inflater
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for range b.N {
		if _, err := f.Inflate(c, true, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}
