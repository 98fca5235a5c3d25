package engine

import (
	"slices"
	"testing"
)

// Walks over a loop's connections (the eviction round, the drain, the
// timer sweep) write to connections, and a write to a peer that has reset
// closes the connection inside the write, as gnet does: these tests run
// each walk with such a peer (InProc.Reset) and check that it neither
// crashes nor skips a connection.

// checkConns fails unless l.conns holds exactly the connections gnet has
// not reported closed, each at its idx.
func checkConns(t *testing.T, l *Loop) {
	t.Helper()
	for i, c := range l.conns {
		if c == nil {
			t.Fatalf("l.conns[%d] is nil", i)
		}
		if int(c.idx) != i {
			t.Fatalf("l.conns[%d].idx = %d", i, c.idx)
		}
		if c.gc.(*pipeConn).reset != nil {
			t.Fatalf("l.conns[%d] is the reset connection, whose OnClose ran", i)
		}
	}
}

// openN opens n echo connections on loop 0 of p.
func openN(t *testing.T, p *InProc, n int, capture bool) []*Conn {
	t.Helper()
	conns := make([]*Conn, n)
	for i := range conns {
		c, err := p.Open("/echo", 0, capture)
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	return conns
}

// An eviction round evicts a connection whose peer has reset: the close
// frame's write closes it in the middle of the round's walk over l.conns.
// The round goes on (it used to dereference the nil its removal left in the
// last slot, and the loop's goroutine panicked), and the freed bytes count
// what the reset connection held.
func TestEvictionPeerReset(t *testing.T) {
	const budget = 1 << 20
	p := NewInProc(Config{MemoryBudget: budget}, 1)
	p.Server().Handle("/echo", fuzzEcho{})
	conns := openN(t, p, 5, true)
	hog := conns[0] // first in l.conns: its removal moves the last one
	for _, c := range conns[1:] {
		partial(p, c, 400_000, 200_000) // 256 KiB each, 1 MiB in all: at the budget, not over
	}
	p.Drain()
	if n := p.srv.Stats().Evicted[DirInbound]; n != 0 {
		t.Fatalf("%d evicted at the budget", n)
	}
	p.Reset(hog)
	partial(p, hog, 800_000, 300_000) // 512 KiB, over the budget: a class above the round's cut
	hogHeld := hog.Held()
	p.Drain() // the round
	if !p.Closed(hog) || hog.state != stateClosed {
		t.Fatal("the reset hog was not evicted")
	}
	st := p.srv.Stats()
	if st.Evicted[DirInbound] != 2 {
		t.Fatalf("Evicted %v, want the hog and one 256 KiB holder", st.Evicted)
	}
	if got, want := p.srv.freed.Load(), hogHeld+256<<10; got != want {
		t.Fatalf("freed %d, want %d: the hog's %d and one 256 KiB holder", got, want, hogHeld)
	}
	if st.HeldBytes != 3*256<<10 {
		t.Fatalf("node holds %d after the round, want 3 x 256 KiB", st.HeldBytes)
	}
	checkConns(t, p.Loop(0))
}

// The drain's 1001 reaches every connection although the peer of one has
// reset: the arena fills after about 18,700 close frames, the flush that
// empties it in the middle of the walk fails on the reset peer, and its
// removal moved the last connection into a slot the walk had passed.
func TestDrainPeerReset(t *testing.T) {
	const n = 20_000
	p := NewInProc(Config{}, 1)
	p.Server().Handle("/echo", fuzzEcho{})
	conns := openN(t, p, n, false)
	before := make([]int64, n)
	for i, c := range conns {
		before[i] = p.Written(c)
	}
	p.Reset(conns[0])
	_ = p.Loop(0).Post(drainTask{})
	p.Drain()
	missed := 0
	for i, c := range conns[1:] {
		if p.Written(c) == before[i+1] || c.state != stateClosing {
			missed++
		}
	}
	if missed != 0 {
		t.Fatalf("%d of %d connections were not sent close 1001", missed, n-1)
	}
	if conns[0].state != stateClosed {
		t.Fatal("the reset connection is not closed")
	}
	checkConns(t, p.Loop(0))
}

// The timer sweep closes every connection whose message deadline passed,
// although the first one's close frame finds its peer reset.
func TestSweepPeerReset(t *testing.T) {
	p := NewInProc(Config{}, 1)
	p.Server().Handle("/echo", fuzzEcho{})
	conns := openN(t, p, 5, false)
	for _, c := range conns {
		partial(p, c, 1000, 10)
		c.t0 = 1 // long past
	}
	p.Reset(conns[0])
	p.Sweep()
	open := slices.IndexFunc(conns, func(c *Conn) bool { return c.state != stateClosed })
	if open >= 0 || p.srv.Stats().MessageTimeouts != 5 {
		t.Fatalf("connection %d still open after the sweep; MessageTimeouts %d, want 5", open, p.srv.Stats().MessageTimeouts)
	}
	checkConns(t, p.Loop(0))
}
