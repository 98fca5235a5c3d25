package engine

import (
	"context"
	"runtime"
	"sync"
	"time"

	"edgews/codec"
	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// arenaSize is the per-loop buffer that frames sent with Conn.Send are copied
// into until the end of the current event, when every connection's frames go
// out in one writev. Frames larger than it are written at once instead.
const arenaSize = 256 << 10

// maxIov caps the iovecs of one writev (the kernel refuses more than
// IOV_MAX=1024; gnet does not split them on its direct path).
const maxIov = 512

// Loop is the engine's state for one gnet event loop. Its connections, and
// everything marked "loop only", are touched only from that loop's goroutine.
type Loop struct {
	srv   *Server
	el    gnet.EventLoop
	index int

	mu        sync.Mutex
	queue     []Task // guarded by mu
	scheduled bool   // guarded by mu: an Execute of this loop is pending

	// Local holds a handler's per-loop state (for example, the hub's member
	// lists for this loop). Loop only.
	Local any

	// Loop-only state below.
	running []Task
	conns   []*Conn // the loop's connections, in no order; see removeConn
	gone    []*Conn // closed during the current event, taken out of conns at its end
	now     int64   // nanoseconds, refreshed at the start of every event
	busy    int     // nesting depth of engine event processing
	inTask  bool    // inside Task.Run: WriteShared need not copy

	pend   []pendEntry  // pending output, chained per connection
	dirty  []*Conn      // connections with pending output
	arena  []byte       // frames copied by Send, valid until flush
	iov    [][]byte     // writev scratch
	rawIov []unix.Iovec // sendmsg scratch (sendDirect)
	closed []*Conn      // connections whose OnClose waits for the end of the event
	early  []byte       // bytes read behind a request an Upgrader decided off the loop, see readFrames

	// The upgrade being answered on the loop, for Conn.Request during the
	// Upgrader and OnOpen: the request lives here, not in every Conn.
	hsConn *Conn
	hsReq  Request

	// The start of request heads that came in more than one read, moved
	// out of gnet's buffer (see Conn.handshake). Few connections have one.
	heads map[*Conn][]byte

	sweeping bool // guarded by mu: a sweep task is queued
	sweep    sweepTask

	flate loopFlate // permessage-deflate state shared by the loop's connections
	tls   loopTLS   // TLS scratch and the plaintext of the read being handled (tlsconn.go)

	// The Decoder of the connection being read, decConn, when it has none
	// of its own, and the limits connections use (decode.go).
	dec     codec.Decoder
	decConn *Conn
	lims    []decLimits

	counters loopCounters
	mem      loopMem // held bytes, see memory.go
	yielded  int64   // l.now when the loop last yielded, see yield
}

type pendEntry struct {
	b    []byte
	next int32 // 1-based index of the next entry of the same connection; 0 ends
}

// Index is the loop's number, 0..Loops-1, in the order loops were first seen.
func (l *Loop) Index() int { return l.index }

// Post queues t to run on the loop. It is safe from any goroutine and never
// blocks. Tasks posted before the loop next runs are run as one batch, and the
// frames they write go out together (one writev per connection). If the
// engine is shutting down, t.Done is called at once and the error returned.
func (l *Loop) Post(t Task) error { return l.post(t, 0) }

// PostLimit is Post for work that may be dropped when the loop is behind:
// with limit or more tasks already waiting for the loop, it calls t.Done
// and returns ErrLoopBehind instead of queueing t. Post never refuses
// (what the loop's own connections cause must run); PostLimit is for work
// that arrives from elsewhere at a rate the loop does not set (messages
// from other nodes), so that a loop that falls behind drops it and the
// caller counts it, instead of its queue growing without bound.
func (l *Loop) PostLimit(t Task, limit int) error { return l.post(t, limit) }

// post queues t; limit > 0 refuses it while limit tasks wait.
func (l *Loop) post(t Task, limit int) error {
	l.mu.Lock()
	if limit > 0 && len(l.queue) >= limit {
		l.mu.Unlock()
		t.Done()
		return ErrLoopBehind
	}
	l.queue = append(l.queue, t)
	schedule := !l.scheduled
	l.scheduled = true
	l.mu.Unlock()
	if !schedule {
		return nil
	}
	// One Execute per batch, not per task: gnet's task queue allocates per
	// trigger, so coalescing keeps broadcast fan-out allocation-free.
	if err := l.el.Execute(context.Background(), l); err != nil {
		l.mu.Lock()
		q := l.queue
		l.queue = nil
		l.scheduled = false
		l.mu.Unlock()
		for _, t := range q {
			t.Done()
		}
		return err
	}
	return nil
}

// Run implements gnet.Runnable: it runs the queued tasks on the loop.
func (l *Loop) Run(context.Context) error {
	l.mu.Lock()
	l.running, l.queue = l.queue, l.running[:0]
	l.scheduled = false
	l.mu.Unlock()

	l.begin()
	l.inTask = true
	for _, t := range l.running {
		t.Run(l)
	}
	l.inTask = false
	l.flush()
	for i, t := range l.running {
		t.Done()
		l.running[i] = nil
	}
	l.running = l.running[:0]
	l.end()
	return nil
}

// begin and end bracket every event the engine processes on the loop, so
// that OnClose callbacks raised by gnet in the middle of it (a failed write
// closes the connection synchronously) run after it, not re-entrantly.
func (l *Loop) begin() {
	if l.busy == 0 {
		l.now = time.Now().UnixNano()
	}
	l.busy++
}

func (l *Loop) end() {
	l.busy--
	if l.busy > 0 {
		return
	}
	for len(l.closed) > 0 || len(l.dirty) > 0 {
		l.busy++
		for len(l.closed) > 0 {
			c := l.closed[len(l.closed)-1]
			l.closed[len(l.closed)-1] = nil
			l.closed = l.closed[:len(l.closed)-1]
			c.fireClose()
		}
		l.flush()
		l.busy--
	}
	l.compact()
	l.counters.publish()
	l.publishMem()
	l.yield()
}

// yieldPeriod bounds how long a busy loop runs without passing through the
// Go scheduler; see yield. Half the runtime's 10 ms: each yield may wake a
// thread (Gosched starts one when a P is idle), and 5 ms against 2 ms
// measured 0.012 against 0.019 voluntary context switches per echo and 4%
// less CPU per message side by side (one loop).
const yieldPeriod = 5 * time.Millisecond

// yield lets the Go scheduler see the loop's goroutine at least every
// yieldPeriod while it is busy, with runtime.Gosched. A loop under load
// never blocks (gnet polls again at once while events come), and the
// runtime treats a goroutine that has run for 10 ms without a scheduling
// point as hogging its P: sysmon preempts it, and when it finds it in a
// system call (where a loop is most of the time) takes the P away. The
// system call then returns to an idle P whose record sysmon also holds as
// old, so it is taken again and again, each time waking a thread, and
// sysmon polls every 20 µs instead of every 10 ms while this lasts:
// measured with one loop under echo load, 300 P hand-offs and 4,000
// sysmon wake-ups a second, the loop's goroutine moving among four
// threads, and three times the voluntary context switches per message of
// a loop that yields. One Gosched per period costs less than one of those
// hand-offs. Loop only; called at the end of every event.
func (l *Loop) yield() {
	if l.now-l.yielded > int64(yieldPeriod) {
		l.yielded = l.now
		gosched()
	}
}

// gosched is runtime.Gosched; tests count the calls.
var gosched = runtime.Gosched

// reserve returns n bytes of arena space, flushing first when the arena is
// full; nil if n exceeds the arena.
func (l *Loop) reserve(n int) []byte {
	if n > arenaSize {
		return nil
	}
	if l.arena == nil {
		l.arena = make([]byte, 0, arenaSize)
	}
	if len(l.arena)+n > cap(l.arena) {
		l.flush()
		if len(l.arena) != 0 {
			// A flush nested in a flush (a handler writing from OnClose)
			// cannot reuse the arena: start a new one, the old one stays
			// alive for as long as the entries that point into it.
			l.arena = make([]byte, 0, arenaSize)
		}
	}
	start := len(l.arena)
	l.arena = l.arena[:start+n]
	return l.arena[start : start+n : start+n]
}

// enqueue appends b to c's pending output; b must stay valid until flush.
func (l *Loop) enqueue(c *Conn, b []byte) {
	l.pend = append(l.pend, pendEntry{b: b})
	idx := int32(len(l.pend))
	if c.pendHead == 0 {
		c.pendHead = idx
		l.dirty = append(l.dirty, c)
	} else {
		l.pend[c.pendTail-1].next = idx
	}
	c.pendTail = idx
	c.pendBytes += int32(len(b))
}

// flush hands every dirty connection's pending frames to gnet, one writev
// per connection (gnet writes what the socket takes and copies the rest into
// the connection's outbound buffer), then checks the slow-consumer bound.
func (l *Loop) flush() {
	for i := 0; i < len(l.dirty); i++ { // not range: OnClose may append
		l.flushConn(l.dirty[i])
	}
	clear(l.dirty)
	l.dirty = l.dirty[:0]
	clear(l.pend) // drop references to shared frames
	l.pend = l.pend[:0]
	l.arena = l.arena[:0]
}

// flushConn hands c's pending frames to gnet in one writev. flush calls
// it for every dirty connection; Conn.enqueue calls it early for one whose
// pending frames alone would pass MaxOutboundBytes (a burst of broadcasts
// in one batch of tasks), so that only what the peer has not taken counts.
// c stays in l.dirty; with nothing pending, flush skips it.
func (l *Loop) flushConn(c *Conn) {
	iov := l.iov[:0]
	for e := c.pendHead; e != 0; e = l.pend[e-1].next {
		iov = append(iov, l.pend[e-1].b)
		l.counters.nFramesOut++
		l.counters.nBytesOut += int64(len(l.pend[e-1].b))
		if len(iov) == maxIov {
			c.writev(iov)
			iov = iov[:0]
		}
	}
	if len(iov) > 0 {
		c.writev(iov)
	}
	clear(iov)
	l.iov = iov[:0]
	c.pendHead, c.pendTail, c.pendBytes = 0, 0, 0
}

func (l *Loop) addConn(c *Conn) {
	c.idx = int32(len(l.conns))
	l.conns = append(l.conns, c)
}

// removeConn takes a closed connection out of l.conns. Inside an event it
// only marks it (c is closed) and takes it out when the event ends: gnet
// closes a connection inside a failed Write or Writev (a peer's reset), so
// a close can happen in the middle of any walk over l.conns (the drain,
// the timer sweep, an eviction round), and a swap-remove there would move
// the last connection into a slot the walk has passed, or leave a nil in
// one it has not reached. Walks skip closed connections by their state.
func (l *Loop) removeConn(c *Conn) {
	if c.idx < 0 {
		return
	}
	if l.busy > 0 {
		l.gone = append(l.gone, c)
		return
	}
	l.dropConn(c)
}

// compact takes the connections closed during the event out of l.conns.
// Called by end, once nothing walks l.conns.
func (l *Loop) compact() {
	for i, c := range l.gone {
		l.dropConn(c)
		l.gone[i] = nil
	}
	l.gone = l.gone[:0]
}

// dropConn swap-removes c from l.conns.
func (l *Loop) dropConn(c *Conn) {
	if c.idx < 0 {
		return
	}
	last := len(l.conns) - 1
	moved := l.conns[last]
	l.conns[c.idx] = moved
	moved.idx = c.idx
	l.conns[last] = nil
	l.conns = l.conns[:last]
	c.idx = -1
}

// EachConn calls f with every connection of the loop not closed yet (open,
// or still in its handshake, or closing), for handlers that act on
// connections chosen by other criteria than their routes' member lists:
// the server API's disconnects and bans. Closing a connection from f is
// safe: a close during an event leaves l.conns as it is until the event
// ends (removeConn). Loop only, from a callback or a task.
func (l *Loop) EachConn(f func(c *Conn)) {
	for _, c := range l.conns {
		if c.state != stateClosed {
			f(c)
		}
	}
}
