package engine

import (
	"fmt"
	"testing"

	"edgews/codec"
	"edgews/codec/tlsrec"
)

// BenchmarkEchoPath measures the engine's per-frame work without sockets:
// OnTraffic decodes a read of 16 masked 128-byte text frames in place,
// the handler echoes each (copied into the loop's arena), and one writev
// per read hands them out.
func BenchmarkEchoPath(b *testing.B) {
	p := NewInProc(Config{}, 1)
	p.Server().Handle("/echo", fuzzEcho{})
	c, err := p.Open("/echo", 0, false)
	if err != nil {
		b.Fatal(err)
	}
	pc := c.gc.(*pipeConn)
	m := [4]byte{1, 2, 3, 4}
	payload := make([]byte, 128)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	var wire []byte
	for i := 0; i < 16; i++ {
		wire = codec.AppendFrame(wire, true, codec.OpText, payload, &m)
	}
	in := make([]byte, 0, len(wire))
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pc.in = append(in[:0], wire...)
		p.srv.OnTraffic(pc)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/16, "ns/frame")
}

// BenchmarkTLSEchoPath is BenchmarkEchoPath over TLS 1.3 (AES-128-GCM):
// the 16 frames arrive in one record, opened in place; the echoes are
// sealed into one record at the flush.
func BenchmarkTLSEchoPath(b *testing.B) {
	p, pc, frames := tlsEchoInProc(b, false, 16)
	in := make([]byte, 0, tlsrec.SealedLen(len(frames)))
	pc.in = pc.seal(in[:0], frames)
	p.srv.OnTraffic(pc)
	p.Sweep() // busy: the AEADs are kept
	b.SetBytes(int64(len(frames)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pc.in = pc.seal(in[:0], frames) // the client's sealing is timed too: a fresh record each time
		p.srv.OnTraffic(pc)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/16, "ns/frame")
}

// compressedEcho opens an echo connection that negotiated permessage-deflate
// and returns one compressed 1 KiB chat-like text frame to feed it. The mask
// is all zeros, so unmasking in place leaves the frame as it was.
func compressedEcho(tb testing.TB) (*InProc, *pipeConn, []byte) {
	p := NewInProc(Config{Compression: true}, 1)
	p.Server().Handle("/echo", fuzzEcho{})
	c, err := p.Open("/echo", 0, false, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
	if err != nil {
		tb.Fatal(err)
	}
	if !c.Compressed() {
		tb.Fatal("permessage-deflate not negotiated")
	}
	var msg []byte
	for i := 0; len(msg) < 1024; i++ {
		msg = fmt.Appendf(msg, `{"type":"message","room":"lobby","from":"user%d","text":"message number %d of the benchmark"}`, i%7, i)
	}
	msg = msg[:1024]
	var zero [4]byte
	z := codec.NewDeflater(1).AppendDeflate(nil, msg)
	wire := codec.AppendCompressedHeader(nil, true, codec.OpText, len(z), &zero)
	return p, c.gc.(*pipeConn), append(wire, z...)
}

// BenchmarkCompressedEchoPath is BenchmarkEchoPath with permessage-deflate:
// each 1 KiB chat-like JSON message is inflated, handed to the echo handler
// and compressed again with the loop's shared flate state.
func BenchmarkCompressedEchoPath(b *testing.B) {
	p, pc, wire := compressedEcho(b)
	in := make([]byte, 0, len(wire))
	b.SetBytes(1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pc.in = append(in[:0], wire...)
		p.srv.OnTraffic(pc)
	}
	b.ReportMetric(float64(pc.written)/float64(b.N), "wire-bytes/op")
}
