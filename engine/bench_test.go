package engine

import (
	"testing"

	"edgews/codec"
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
