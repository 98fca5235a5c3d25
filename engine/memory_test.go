package engine

import (
	"strings"
	"testing"

	"edgews/codec"
)

func TestHeldSize(t *testing.T) {
	prev := heldSize(0)
	for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 100, 2047, 2048, 2049, 4095, 4096, 65537, 1_000_000, 1 << 20, 1<<20 + 1, 123_456_789, 15 << 30} {
		h := toHeldSize(n)
		got := h.bytes()
		if got < int64(n) || got > int64(n)+int64(n)/8 {
			t.Errorf("toHeldSize(%d).bytes() = %d, want n rounded up by at most 1/8", n, got)
		}
		if (n < 16 || n&(n-1) == 0) && got != int64(n) {
			t.Errorf("toHeldSize(%d).bytes() = %d, want exact below 16 and for powers of two", n, got)
		}
		if h < prev {
			t.Errorf("toHeldSize(%d) = %d < toHeldSize of a smaller count (%d): heldSize must order as bytes", n, h, prev)
		}
		prev = h
	}
	if got := toHeldSize(1 << 40).bytes(); got != 15<<30 {
		t.Errorf("1 TiB: %d, want saturated at 15 GiB", got)
	}
}

func TestHeldEstimates(t *testing.T) {
	tests := []struct {
		name string
		got  int
		want int
	}{
		{"inbound empty", inHeld(0), 0},
		{"inbound 1 byte: gnet's smallest ring", inHeld(1), 1024},
		{"inbound 1025 bytes", inHeld(1025), 2048},
		{"inbound 999,010 bytes", inHeld(999_010), 1 << 20},
		{"outbound empty", outHeld(0), 0},
		{"outbound 100 bytes", outHeld(100), 128},
		{"outbound 64 KiB + 1000", outHeld(64<<10 + 1000), 64<<10 + 1250},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}

func TestPlanEviction(t *testing.T) {
	tests := []struct {
		name     string
		classes  map[int]int64
		excess   int64
		wantCut  int
		wantFrac float64
	}{
		{"largest class covers it", map[int]int64{21: 8 << 20, 11: 1 << 20}, 2 << 20, 21, 0.25},
		{"spills into the next class", map[int]int64{21: 2 << 20, 18: 4 << 20, 11: 1 << 20}, 3 << 20, 18, 0.25},
		{"not enough held: everyone", map[int]int64{12: 100}, 1000, 1, 1},
	}
	for _, tc := range tests {
		var c [numClasses]int64
		for k, v := range tc.classes {
			c[k] = v
		}
		cut, frac := planEviction(&c, tc.excess)
		if cut != tc.wantCut || frac != tc.wantFrac {
			t.Errorf("%s: cut %d frac %v, want %d %v", tc.name, cut, frac, tc.wantCut, tc.wantFrac)
		}
	}
}

// partial feeds c the header of a binary frame of size payload bytes and
// the first n of them, as one read.
func partial(p *InProc, c *Conn, size, n int) {
	m := [4]byte{1, 2, 3, 4}
	pc := c.gc.(*pipeConn)
	pc.in = append(pc.in, codec.AppendHeader(nil, true, codec.OpBinary, size, &m)...)
	pc.in = append(pc.in, make([]byte, n)...)
	p.srv.OnTraffic(pc)
}

// more feeds c n more bytes of payload.
func more(p *InProc, c *Conn, n int) {
	pc := c.gc.(*pipeConn)
	pc.in = append(pc.in, make([]byte, n)...)
	p.srv.OnTraffic(pc)
}

// A partial frame is charged as gnet's ring holds it (a power of two), the
// node total follows, and both go back to zero once the frame completes.
func TestHeldPartialFrame(t *testing.T) {
	p := NewInProc(Config{}, 1)
	p.Server().Handle("/echo", fuzzEcho{})
	c, err := p.Open("/echo", 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if c.Held() != 0 || p.srv.HeldBytes() != 0 {
		t.Fatalf("open connection holds %d (node %d), want 0", c.Held(), p.srv.HeldBytes())
	}
	partial(p, c, 100_000, 50_000)
	if c.Held() != 64<<10 || p.srv.HeldBytes() != 64<<10 {
		t.Fatalf("half a 100,000-byte frame: held %d (node %d), want 65536", c.Held(), p.srv.HeldBytes())
	}
	more(p, c, 40_000)
	if c.Held() != 128<<10 || p.srv.HeldBytes() != 128<<10 {
		t.Fatalf("90%% of the frame: held %d (node %d), want 131072", c.Held(), p.srv.HeldBytes())
	}
	more(p, c, 10_000)
	if c.Held() != 0 || p.srv.HeldBytes() != 0 {
		t.Fatalf("frame complete: held %d (node %d), want 0", c.Held(), p.srv.HeldBytes())
	}
	if got := p.Received(c); len(got) != 1 || len(got[0]) != 100_000 {
		t.Fatalf("echo of the frame: %d messages", len(got))
	}
}

// The fragments of a message are charged as the decoder's buffer capacity.
func TestHeldFragments(t *testing.T) {
	p := NewInProc(Config{}, 1)
	p.Server().Handle("/echo", fuzzEcho{})
	c, _ := p.Open("/echo", 0, true)
	pc := c.gc.(*pipeConn)
	m := [4]byte{1, 2, 3, 4}
	pc.in = codec.AppendFrame(pc.in, false, codec.OpBinary, make([]byte, 30_000), &m)
	p.srv.OnTraffic(pc)
	if c.Held() != toHeldSize(c.dec.BufCap()).bytes() || c.Held() < 30_000 {
		t.Fatalf("one 30,000-byte fragment: held %d, decoder buffer cap %d", c.Held(), c.dec.BufCap())
	}
	pc.in = codec.AppendFrame(pc.in, true, codec.OpContinuation, make([]byte, 30_000), &m)
	p.srv.OnTraffic(pc)
	if c.Held() != 0 || p.srv.HeldBytes() != 0 {
		t.Fatalf("message complete: held %d (node %d), want 0 (a buffer over 4 KiB is dropped)", c.Held(), p.srv.HeldBytes())
	}
}

// Output the peer does not read is charged, and released once it reads.
func TestHeldOutbound(t *testing.T) {
	p := NewInProc(Config{}, 1)
	p.Server().Handle("/echo", fuzzEcho{})
	c, _ := p.Open("/echo", 0, false)
	p.Stall(c, true)
	for i := 0; i < 10; i++ {
		p.Message(c, codec.OpBinary, make([]byte, 10_000))
	}
	if want := toHeldSize(outHeld(10 * 10_004)).bytes(); c.Held() != want || p.srv.HeldBytes() != want {
		t.Fatalf("10 frames unread: held %d (node %d), want %d", c.Held(), p.srv.HeldBytes(), want)
	}
	p.Stall(c, false)
	c.loop.postSweep()
	p.Drain()
	if c.Held() != 0 || p.srv.HeldBytes() != 0 {
		t.Fatalf("after the peer read and a sweep: held %d (node %d), want 0", c.Held(), p.srv.HeldBytes())
	}
}

// Over the budget, the largest holders are evicted on every loop, inbound
// ones with close 1013, outbound ones with a TCP close, until the node is
// under 90% of it; the small holders stay.
func TestEvictLargestFirst(t *testing.T) {
	const budget = 1 << 20
	p := NewInProc(Config{MemoryBudget: budget}, 2)
	p.Server().Handle("/echo", fuzzEcho{})
	var small, big []*Conn
	for i := 0; i < 8; i++ {
		c, err := p.Open("/echo", i%2, true)
		if err != nil {
			t.Fatal(err)
		}
		partial(p, c, 3000, 1500) // 2 KiB each
		small = append(small, c)
	}
	for i := 0; i < 4; i++ {
		c, _ := p.Open("/echo", i%2, true)
		partial(p, c, 400_000, 200_000+i) // 256 KiB each: 1 MiB + 16 KiB in all, over budget at the last
		big = append(big, c)
	}
	hog, _ := p.Open("/echo", 0, false)
	p.Stall(hog, true)
	p.Drain()
	st := p.srv.Stats()
	if st.HeldBytes > budget*9/10 {
		t.Fatalf("after the round: node holds %d, want <= 90%% of %d", st.HeldBytes, budget)
	}
	evicted := 0
	for _, c := range big {
		if p.Closed(c) {
			evicted++
			if got := p.Received(c); len(got) != 1 || got[0] != "close 1013 try again later" {
				t.Errorf("evicted connection received %q, want close 1013", got)
			}
		}
	}
	if evicted == 0 || st.Evicted[DirInbound] != int64(evicted) {
		t.Fatalf("evicted %d big holders, Stats.Evicted %v", evicted, st.Evicted)
	}
	for _, c := range small {
		if p.Closed(c) {
			t.Fatal("a connection holding 2 KiB was evicted while larger ones held more")
		}
	}

	// An outbound hog: 5 x 200 KB queued.
	for i := 0; i < 5; i++ {
		p.Message(hog, codec.OpBinary, make([]byte, 200_000))
	}
	p.Drain()
	if !p.Closed(hog) || p.srv.Stats().Evicted[DirOutbound] != 1 {
		t.Fatalf("outbound hog: closed %v, Stats.Evicted %v", p.Closed(hog), p.srv.Stats().Evicted)
	}
	if got := p.Received(hog); len(got) != 0 {
		t.Fatalf("a peer that does not read got %q: the close frame cannot go behind its queue", got)
	}
	for _, c := range small {
		if p.Closed(c) {
			t.Fatal("a small holder was evicted for the outbound hog")
		}
	}
}

// The message deadline is set by a partial frame, kept while the frame
// trickles in, and the sweep closes the connection with 1008 once it passes.
func TestMessageDeadline(t *testing.T) {
	p := NewInProc(Config{MessageTimeout: 5e9}, 1)
	p.Server().Handle("/echo", fuzzEcho{})
	c, _ := p.Open("/echo", 0, true)
	if c.t0 != 0 {
		t.Fatal("deadline set on an idle connection")
	}
	partial(p, c, 1000, 10)
	d := c.t0
	if d == 0 {
		t.Fatal("no deadline for a partial frame")
	}
	more(p, c, 10)
	if c.t0 != d {
		t.Fatal("the deadline moved while the same frame trickled in")
	}
	more(p, c, 980)
	if c.t0 != 0 {
		t.Fatal("deadline kept after the frame completed")
	}
	partial(p, c, 1000, 10)
	c.t0 = 1 // long past
	c.loop.postSweep()
	p.Drain()
	if !p.Closed(c) || p.srv.Stats().MessageTimeouts != 1 {
		t.Fatalf("closed %v, MessageTimeouts %d", p.Closed(c), p.srv.Stats().MessageTimeouts)
	}
	if got := p.Received(c); len(got) != 2 || !strings.HasPrefix(got[1], "close 1008") {
		t.Fatalf("received %q, want the echo then close 1008", got)
	}
}

// writeTask writes one shared frame to c.
type writeTask struct {
	c     *Conn
	frame []byte
}

func (t writeTask) Run(*Loop) { _ = t.c.WriteShared(t.frame) }
func (t writeTask) Done()     {}

// A burst of broadcasts run as one batch of tasks queues more than
// MaxOutboundBytes for a connection within one event: a peer that takes
// everything is not a slow consumer for it; one that takes nothing is.
func TestBurstInOneBatchIsNotSlow(t *testing.T) {
	p := NewInProc(Config{MaxOutboundBytes: 1 << 20}, 1)
	p.Server().Handle("/echo", fuzzEcho{})
	reader, _ := p.Open("/echo", 0, false)
	hog, _ := p.Open("/echo", 0, false)
	p.Stall(hog, true)
	frame := codec.AppendFrame(nil, true, codec.OpText, make([]byte, 3900), nil)
	before := p.Written(reader)
	for i := 0; i < 300; i++ { // 1.17 MB
		_ = reader.loop.Post(writeTask{reader, frame})
		_ = hog.loop.Post(writeTask{hog, frame})
	}
	p.Drain()
	if p.Closed(reader) || p.srv.Stats().SlowConsumers != 1 {
		t.Fatalf("reader closed %v, SlowConsumers %d: want only the hog closed", p.Closed(reader), p.srv.Stats().SlowConsumers)
	}
	if got := p.Written(reader) - before; got != int64(300*len(frame)) {
		t.Fatalf("reader got %d bytes, want %d", got, 300*len(frame))
	}
	if !p.Closed(hog) {
		t.Fatal("the hog, which reads nothing, was not closed")
	}
}
