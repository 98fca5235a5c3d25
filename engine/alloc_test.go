//go:build !race

package engine

import (
	"crypto/tls"
	"runtime"
	"testing"

	"edgews/codec"
	"edgews/codec/tlsrec"
)

// A frame read, echoed and written costs no allocation: decode in place,
// copy into the loop's arena, one writev at the end of the event.
func TestEchoPathAllocs(t *testing.T) {
	p := NewInProc(Config{}, 1)
	p.Server().Handle("/echo", fuzzEcho{})
	c, err := p.Open("/echo", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	pc := c.gc.(*pipeConn)
	m := [4]byte{1, 2, 3, 4}
	wire := codec.AppendFrame(nil, true, codec.OpText, []byte("hello, allocation-free world"), &m)
	in := make([]byte, 0, 4*len(wire))
	allocs := testing.AllocsPerRun(1000, func() {
		pc.in = append(in[:0], wire...)
		p.srv.OnTraffic(pc)
	})
	if allocs != 0 {
		t.Fatalf("read+echo+write: %v allocs per frame, want 0", allocs)
	}
	if pc.written == 0 {
		t.Fatal("nothing written")
	}
}

// A compressed frame read, inflated, echoed compressed and written costs no
// allocation either: the loop's shared inflater and deflater keep their
// buffers.
func TestCompressedEchoPathAllocs(t *testing.T) {
	p, pc, wire := compressedEcho(t)
	in := make([]byte, 0, 4*len(wire))
	allocs := testing.AllocsPerRun(1000, func() {
		pc.in = append(in[:0], wire...)
		p.srv.OnTraffic(pc)
	})
	if allocs != 0 {
		t.Fatalf("read+inflate+echo+deflate+write: %v allocs per frame, want 0", allocs)
	}
}

// A large frame arriving over several reads costs no allocation either:
// while it is incomplete the engine charges what gnet holds and waits,
// without handing the bytes to the decoder again.
func TestPartialFrameAllocs(t *testing.T) {
	p := NewInProc(Config{MemoryBudget: 1 << 30}, 1)
	p.Server().Handle("/echo", fuzzEcho{})
	c, err := p.Open("/echo", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	pc := c.gc.(*pipeConn)
	m := [4]byte{1, 2, 3, 4}
	wire := codec.AppendFrame(nil, true, codec.OpBinary, make([]byte, 100_000), &m)
	in := make([]byte, 0, len(wire))
	allocs := testing.AllocsPerRun(100, func() {
		pc.in = append(in[:0], wire[:30_000]...)
		p.srv.OnTraffic(pc)
		pc.in = append(pc.in, wire[30_000:60_000]...)
		p.srv.OnTraffic(pc)
		pc.in = append(pc.in, wire[60_000:]...)
		p.srv.OnTraffic(pc)
	})
	if allocs != 0 {
		t.Fatalf("a frame in three reads: %v allocs, want 0", allocs)
	}
	if c.Held() != 0 || pc.written < 100_000 {
		t.Fatalf("held %d after the frame, written %d", c.Held(), pc.written)
	}
}

// An idle connection that negotiated permessage-deflate holds what one
// that did not holds (within 64 bytes): no flate state per connection, the
// negotiated window in Conn's padding. Measured as the heap growth of
// 2,000 idle /echo connections of each kind, after a compressed message
// each (so that any lazily kept state would show).
func TestCompressedIdleConnMemory(t *testing.T) {
	const n = 2000
	perConn := func(ext bool) float64 {
		p := NewInProc(Config{Compression: true}, 1)
		p.Server().Handle("/echo", fuzzEcho{})
		// The same request length either way (the harness keeps the
		// request's buffer, as gnet would not): a header the node ignores.
		hdr := []string{"Sec-WebSocket-Extensionx: permessage-deflate"}
		if ext {
			hdr = []string{"Sec-WebSocket-Extensions: permessage-deflate"}
		}
		// Warm the loop's shared state (arena, inflater, deflater) first.
		warm, _ := p.Open("/echo", 0, false, hdr...)
		p.Message(warm, codec.OpText, make([]byte, 1000))
		conns := make([]*Conn, 0, n)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := 0; i < n; i++ {
			c, err := p.Open("/echo", 0, false, hdr...)
			if err != nil {
				t.Fatal(err)
			}
			p.Message(c, codec.OpText, make([]byte, 1000)) // echoed compressed when negotiated
			conns = append(conns, c)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if conns[n-1].Compressed() != ext {
			t.Fatalf("negotiated = %v, want %v", conns[n-1].Compressed(), ext)
		}
		runtime.KeepAlive(conns)
		return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
	}
	plain, zipped := perConn(false), perConn(true)
	t.Logf("idle connection: %.0f B plain, %.0f B with permessage-deflate", plain, zipped)
	if zipped-plain > 64 || plain-zipped > 64 {
		t.Fatalf("a compressed idle connection holds %.0f B, a plain one %.0f B: more than 64 B apart", zipped, plain)
	}
}

// Over TLS: the records are opened in place, the frames decoded from the
// plaintext, the echoes sealed in the loop's scratch: no allocation.
func TestTLSEchoPathAllocs(t *testing.T) {
	p, pc, frames := tlsEchoInProc(t, false, 4)
	in := make([]byte, 0, tlsrec.SealedLen(len(frames)))
	run := func() {
		pc.in = pc.seal(in[:0], frames)
		p.srv.OnTraffic(pc)
	}
	run()
	p.Sweep() // the connection is busy from now on: it keeps its AEADs
	if allocs := testing.AllocsPerRun(1000, run); allocs != 0 {
		t.Fatalf("read+open+echo+seal+write: %v allocs per read, want 0", allocs)
	}
	before := pc.written
	run()
	if got, want := pc.written-before, int64(tlsrec.SealedLen(4*132)); got != want || len(pc.in) != 0 {
		t.Fatalf("one read echoed %d bytes, want %d: four 132-byte frames in one record", got, want)
	}
}

// A 1 MiB frame arriving in 64 records of 16 KiB is carried in a buffer
// that doubles up to the frame's size: a handful of allocations, not one
// per record (append's quarter-steps would make about twenty).
func TestTLSLargeFrameCarryAllocs(t *testing.T) {
	p, pc := inprocEcho(t, Config{TLS: &tls.Config{}, MaxFrameSize: 2 << 20}, false)
	c := pc.ctx.(*Conn)
	m := [4]byte{1, 2, 3, 4}
	frame := codec.AppendFrame(nil, true, codec.OpBinary, make([]byte, 1<<20), &m)
	in := make([]byte, 0, tlsrec.SealedLen(tlsrec.MaxPlaintext))
	pc.in = pc.seal(in[:0], codec.AppendFrame(nil, true, codec.OpBinary, []byte("busy"), &m))
	p.srv.OnTraffic(pc)
	p.Sweep() // busy: the AEADs stay, only the carry buffer is counted
	allocs := testing.AllocsPerRun(5, func() {
		for off := 0; off < len(frame); off += tlsrec.MaxPlaintext {
			pc.in = pc.seal(in[:0], frame[off:min(off+tlsrec.MaxPlaintext, len(frame))])
			p.srv.OnTraffic(pc)
		}
	})
	t.Logf("%v allocations", allocs)
	if allocs > 12 {
		t.Fatalf("a 1 MiB frame over 65 records: %v allocations, want a few", allocs)
	}
	if tlsOf(c).x != nil {
		t.Fatal("the frame's buffer was kept after the frame")
	}
}
