package engine

import (
	"log/slog"
	"math/bits"
	"slices"
	"sync/atomic"

	"edgews/codec"
)

// Memory accounting: the bytes each connection keeps allocated between
// events, and a node-wide total checked against Config.MemoryBudget.
//
// What a connection is charged (Conn.held), counted as capacity, not payload:
//
//   - gnet's inbound buffer. The bytes left unconsumed after an event (a
//     partial frame, or a request and what came behind it while an Upgrader
//     decides off the loop) move into the connection's elastic
//     ring buffer. Its array comes from gnet's byte-slice pool, so it is a
//     power of two (1 KiB at least): the ring grows by doubling, then by
//     1.25 (ring.Buffer.grow), onto the next pooled power of two, and goes
//     back to gnet's pool once emptied. gnet does not expose the capacity,
//     so the charge is ceilPow2(max(InboundBuffered, 1 KiB)). (A ring that
//     was larger before it was partly drained, or that gnet's pool handed
//     out larger, holds more; that part is invisible.)
//   - the decoder's fragment buffer, exactly: codec.Decoder.BufCap.
//   - gnet's outbound buffer: a ring of up to 64 KiB (gnet's WriteBufferCap),
//     then one pooled power-of-two slice per frame. Only the byte count is
//     observable (OutboundBuffered), so the ring part is charged as
//     ceilPow2(min(n, 64 KiB)) and the rest as 5/4 of its bytes, the mean
//     rounding of the pooled slices of a mix of frame sizes.
//   - extraHeld: buffers other engine code keeps per connection (the start
//     of a request head that came in several reads, out of gnet's ring).
//
// Frames queued during an event (Conn.pendBytes) sit in the loop's arena,
// 256 KiB per loop whatever the load, until the end of that event; they are
// charged once flushed, as outbound bytes, if the peer does not take them.
//
// The charge is stored in one byte (heldSize, a small float rounded up, at
// most 1/8 over), in the padding of Conn's 224-byte size class (see the
// layout comment on Conn), so that no connection grows for it.
//
// Cost. held changes only when a connection keeps bytes across events, so
// the common case (each read holds whole frames, each write is taken at
// once) does nothing beyond a few compares. A change updates loop-only
// sums; the loop publishes the net change with one atomic add at the end of
// the event (Loop.end), and only then compares the node total with the
// budget. Nothing is locked or atomically updated per frame.
//
// Eviction. Each loop also keeps its held bytes by size class (the power of
// two of each connection's charge), published at the end of the event. When
// the total passes the budget, the loop that sees it plans one round from
// the published classes: the excess over 90% of the budget is taken from
// the largest classes down, so the round evicts every connection above a
// cutoff class and a fraction of the cutoff class itself, whose members are
// within a factor of two of each other. The plan is posted to every loop
// (Loop.Post), and each loop evicts its own share, largest first, on its
// own goroutine: bounded work (one pass over that loop's connections per
// round, at most one round in flight), and connections holding little are
// never reached while bigger ones exist.
//
// The hook for other engine code: a buffer kept per connection (for
// example permessage-deflate's inflate state) returns its capacity from
// extraHeld, and the code that grows or frees it calls c.account()
// afterwards, on the loop. Nothing else is needed for the budget to see it.

const (
	// numClasses is the number of size classes: bits.Len64 of a charge.
	numClasses = 64
	// minRing is gnet's smallest inbound ring (ring.DefaultBufferSize).
	minRing = 1 << 10
	// outRingMax is gnet's outbound ring, gnet.MaxStreamBufferCap (the
	// engine leaves WriteBufferCap at its default).
	outRingMax = 64 << 10
)

// extraHeld is the bytes held for the connection by engine code outside the
// buffers accounted above. It is the hook described in the comment at the
// top of this file: add a buffer's capacity here, and call c.account() on
// the loop after the buffer grows or is freed. Today: the start of a
// request head that came in several reads (Loop.heads), and a TLS
// connection's state (tlsHeld).
func (c *Conn) extraHeld() int {
	n := 0
	if c.state == stateHandshake && len(c.loop.heads) != 0 {
		n = cap(c.loop.heads[c])
	}
	if c.isTLS() {
		n += c.tlsHeld()
	}
	return n
}

// inHeld is the charge for n bytes in gnet's inbound ring.
func inHeld(n int) int {
	if n <= 0 {
		return 0
	}
	return max(1<<bits.Len(uint(n-1)), minRing)
}

// outHeld is the charge for n bytes in gnet's outbound buffer.
func outHeld(n int) int {
	if n <= 0 {
		return 0
	}
	ring := min(n, outRingMax)
	return 1<<bits.Len(uint(ring-1)) + (n-ring)*5/4
}

// account recomputes c's charge. Loop only; a closed connection holds
// nothing (closeNow released its charge).
func (c *Conn) account() {
	if c.state == stateClosed {
		return
	}
	c.setHeld(inHeld(c.gc.InboundBuffered()) + c.fragBufCap() + outHeld(c.gc.OutboundBuffered()) + c.extraHeld())
}

// setHeld moves c's charge to n bytes (rounded up to a heldSize) in its
// loop's sums.
func (c *Conn) setHeld(n int) {
	h := toHeldSize(n)
	if h == c.held {
		return
	}
	c.loop.mem.move(c.held.bytes(), h.bytes())
	c.held = h
}

// Held is the bytes the connection is charged for (see memory.go) as of the
// end of its last event. Loop only.
func (c *Conn) Held() int64 { return c.held.bytes() }

// heldSize is a byte count in one byte: exact below 16, then four
// significant bits (8..15 << e), rounded up, so at most 1/8 over; up to
// 15 << 30 (15 GiB), which larger counts saturate to. Codes order as their
// byte counts.
type heldSize uint8

const maxHeldSize = heldSize(255)

func toHeldSize(n int) heldSize {
	if n < 16 {
		return heldSize(max(n, 0))
	}
	u := uint64(n)
	e := bits.Len64(u) - 4
	m := (u + 1<<e - 1) >> e // round up: 8..16
	if m == 16 {
		m = 8
		e++
	}
	if e > 30 {
		return maxHeldSize
	}
	return heldSize((e+1)<<3 | int(m-8))
}

func (h heldSize) bytes() int64 {
	if h < 16 {
		return int64(h)
	}
	return int64(8+h&7) << (h>>3 - 1)
}

// loopMem is a loop's share of the accounting.
type loopMem struct {
	byClass [numClasses]int64 // loop only: held bytes by size class
	delta   int64             // loop only: change of the loop's total not yet published
	dirty   uint64            // loop only: classes changed since the last publish

	pub [numClasses]atomic.Int64 // byClass, as of the end of the last event

	evict     evictTask
	evictList []*Conn // scratch of one eviction round
}

// move takes old bytes out of the sums and puts n in.
func (m *loopMem) move(old, n int64) {
	if old != 0 {
		k := bits.Len64(uint64(old))
		m.byClass[k] -= old
		m.dirty |= 1 << k
	}
	if n != 0 {
		k := bits.Len64(uint64(n))
		m.byClass[k] += n
		m.dirty |= 1 << k
	}
	m.delta += n - old
}

// publishMem makes the loop's accounting visible to the other loops and
// checks the budget. Called at the end of every event; does nothing when
// no charge changed.
func (l *Loop) publishMem() {
	m := &l.mem
	if m.dirty == 0 {
		return
	}
	for d := m.dirty; d != 0; d &= d - 1 {
		k := bits.TrailingZeros64(d)
		m.pub[k].Store(m.byClass[k])
	}
	m.dirty = 0
	s := l.srv
	total := s.held.Add(m.delta)
	freeing := m.delta < 0
	m.delta = 0
	if b := s.cfg.MemoryBudget; b > 0 && total > b {
		s.overBudget(total)
	} else if freeing && s.release != nil {
		s.releaseMemory()
	}
}

// HeldBytes is the node-wide total of the connections' charges (see
// memory.go), as published at the end of each loop's last event, and of
// the bytes held outside connections (Hold).
func (s *Server) HeldBytes() int64 { return s.held.Load() }

// Hold adds delta (negative to give back) to the bytes the server counts
// against MemoryBudget for memory held outside any connection: a queue
// that the hub's users fill, such as the events queue of the application's
// backend (hub/webhook), bounded on its own. It does not start an eviction
// by itself; the loops' next check of the budget sees it, so connections
// have that much less room. Safe from any goroutine; never blocks.
func (s *Server) Hold(delta int64) { s.held.Add(delta) }

// overBudget plans an eviction round and posts it to every loop, unless a
// round is still running. Any goroutine.
func (s *Server) overBudget(total int64) {
	loops := s.Loops()
	if !s.evicting.CompareAndSwap(0, int32(len(loops))) {
		return
	}
	var classes [numClasses]int64
	for _, l := range loops {
		for k := range classes {
			classes[k] += l.mem.pub[k].Load()
		}
	}
	cut, frac := planEviction(&classes, total-s.cfg.MemoryBudget*9/10)
	for _, l := range loops {
		t := &l.mem.evict
		t.cut, t.frac = cut, frac
		_ = l.Post(t) // when shutting down, Post calls Done, which counts the loop as finished
	}
}

// planEviction picks, from the node's held bytes by size class, the
// classes to evict to free excess bytes, largest first: every connection in
// a class above cut, and frac of the bytes of class cut.
func planEviction(classes *[numClasses]int64, excess int64) (cut int, frac float64) {
	for k := numClasses - 1; k > 0; k-- {
		if classes[k] <= 0 {
			continue
		}
		if classes[k] >= excess {
			return k, float64(excess) / float64(classes[k])
		}
		excess -= classes[k]
	}
	return 1, 1 // everything held is not enough: evict every holder
}

// evictTask is one loop's part of an eviction round.
type evictTask struct {
	srv  *Server
	cut  int     // evict every connection of a larger class
	frac float64 // and this fraction of the bytes of class cut, largest first
}

func (t *evictTask) Run(l *Loop) {
	m := &l.mem
	quota := int64(t.frac * float64(m.byClass[t.cut]))
	list := m.evictList[:0]
	// An eviction writes a close frame, which can close the connection
	// inside the write (see Loop.removeConn): l.conns does not change
	// during the walk, and closed connections hold nothing.
	for _, c := range l.conns {
		if c.held == 0 {
			continue
		}
		c.account() // outbound bytes may have drained since the last event
		if k := bits.Len64(uint64(c.held.bytes())); k > t.cut {
			c.evict()
		} else if k == t.cut {
			list = append(list, c)
		}
	}
	slices.SortFunc(list, func(a, b *Conn) int { return int(b.held) - int(a.held) }) // heldSize orders as its bytes
	for _, c := range list {
		if quota <= 0 {
			break
		}
		quota -= c.held.bytes()
		c.evict()
	}
	clear(list)
	m.evictList = list[:0]
}

func (t *evictTask) Done() { t.srv.evicting.Add(-1) }

// Eviction directions, for Stats.Evicted.
const (
	DirInbound  = iota // the connection held mostly bytes it received
	DirOutbound        // mostly bytes waiting for its peer to read them
	NumDirs
)

// evict closes c to free what it holds: close 1013 when its peer can take
// the frame, a TCP close otherwise.
func (c *Conn) evict() {
	if c.state == stateClosed {
		return
	}
	held := c.held.bytes()
	dir := DirInbound
	if out := c.gc.OutboundBuffered(); int64(outHeld(out)) > held/2 {
		dir = DirOutbound
	}
	s := c.loop.srv
	s.stats.evicted[dir].Add(1)
	s.log.connWarn("memory budget exceeded: connection evicted", c,
		slog.Int64("held", held), slog.String("direction", dirNames[dir]), slog.Int64("node_held", s.held.Load()))
	c.closeWith(codec.StatusTryAgainLater, "try again later")
}

var dirNames = [NumDirs]string{"inbound", "outbound"}

// DirName names an eviction direction: "inbound" or "outbound".
func DirName(d int) string { return dirNames[d] }

// closeWith sends a close frame with code and reason if the peer can take
// it now (its outbound buffer is empty), then closes TCP without waiting
// for the peer's close: what the connection holds is freed at once.
func (c *Conn) closeWith(code codec.StatusCode, reason string) {
	if c.state == stateClosed {
		return
	}
	held := c.held.bytes() // before the write: if it fails, gnet's OnClose zeroes c.held
	if c.state == stateOpen && c.gc.OutboundBuffered() == 0 {
		var buf [128]byte
		// Straight to gnet: frames queued in the loop for a closed
		// connection are dropped, and gnet sends what it buffered before
		// it closes the socket.
		c.writeRaw(codec.AppendClose(buf[:0], code, reason, nil))
	}
	if c.code == 0 || c.state == stateOpen {
		c.setClose(code, reason)
	}
	c.loop.srv.freed.Add(held)
	c.closeNow()
}

// waiting reports, for a connection that holds bytes from an earlier event,
// whether the bytes buffered now hold a valid frame header but not the
// whole frame. Handing them to the decoder again would only make gnet copy
// everything it holds into one slice (Peek of its ring plus the new read),
// on every read of a large frame: quadratic copying, and garbage the size
// of the frame each time.
func (c *Conn) waiting(d *codec.Decoder) bool {
	if c.state != stateOpen {
		return false
	}
	in := c.inBuffered()
	if in < 2 {
		return false
	}
	hdr := c.peekHead(min(in, 14)) // the ring's head: no copy unless the header wraps
	if need := d.FrameSize(hdr); need == 0 || need <= int64(in) {
		return false
	}
	c.afterRead(in, false)
	return true
}

// afterRead charges what a read left buffered (left bytes of a partial
// frame; the fragment buffer) and keeps the message deadline: set when a
// frame or fragmented message is left incomplete, kept while it stays so,
// restarted when one completes (progress), cleared once nothing is partial.
func (c *Conn) afterRead(left int, progress bool) {
	if left != 0 || c.held != 0 || c.fragBufCap() != 0 {
		c.account()
	}
	if c.state != stateOpen {
		return
	}
	switch mt := c.loop.srv.cfg.MessageTimeout; {
	case mt < 0 || (left == 0 && !c.fragmented()):
		c.t0 = 0
	case c.t0 == 0 || progress:
		c.t0 = c.loop.now + int64(mt)
	}
}
