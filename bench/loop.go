package bench

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"edgews/codec"
	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/panjf2000/gnet/v2"
)

// loop is the bench's state for one gnet event loop: its connections, its
// histograms and counters, its send schedule and its scratch buffers.
//
// The loop's goroutine holds mu while it handles an event or a tick; the
// worker's sampler takes mu once a second to read the counters. Keeping the
// counters per loop means no atomic or shared cache line per message.
type loop struct {
	mu     sync.Mutex
	held   bool // the loop goroutine holds mu (see lock)
	w      *worker
	el     gnet.EventLoop
	queued atomic.Bool // a tick is posted and has not run yet

	conns   []*conn // handshaking or open
	dead    []*conn // closed while mu was held, removed by unlock
	pending []*conn // handshaking, swept for the handshake timeout
	heap    sendHeap

	lat     *hdr.Histogram // latency over the run, µs
	ivl     *hdr.Histogram // latency since the last sample, µs
	connect *hdr.Histogram // scheduled dial to upgrade (or greeting), µs
	ivlConn *hdr.Histogram // connect times since the last sample, µs (live.go)
	lag     *hdr.Histogram // how late each scheduled message left, µs
	tlsHS   *hdr.Histogram // wss: the TLS handshake (from the TCP connect to its end), µs
	tlsOut  []byte         // wss: records being written; reused

	st loopStats
	// The per-message accounting of broadcast and chat (track.go):
	// pairs[from*len(URLs)+to] counts what arrived from the senders on URL
	// from at the users on URL to; seen[k] has a bit for every sequence
	// number of sender k that arrived at one of this loop's users;
	// windows holds every counted user's seqWindows, one per sender;
	// left the counted users that went away; senders the loop's senders.
	pairs   []pairCounts
	seen    [][]uint64
	windows []seqWindow
	left    []leftUser
	senders []*sender
	// Per URL: users open at the start (counted), messages sent and
	// received by its users.
	openN        []int
	sentN, recvN []int64

	out  []byte         // frames for the connection being handled; reused
	inf  codec.Inflater // Config.Compression: inflates for all the loop's connections
	pay  []byte         // payload template, stamped in place per message
	wbuf []byte         // "/whisper NAME " + payload
	rng  *rand.Rand

	started  bool  // the load phase began on this loop
	nextPing int64 // clock.go ns

	// attack-inbound: the frame attackers write part of, its header length,
	// the next trickle (clock.go ns); both attacks: attackers closed.
	atk         []byte
	atkHead     int
	nextTrickle int64
	closes      []attackClose

	mx *loopMix // a staged mix (mix.go); nil otherwise
}

type loopStats struct {
	msgCounts
	pongs       int64
	inflight    int64
	attackers   int // attack-inbound: open when the attack began
	attackBytes int64
	openAtStart int
	disconnects int
}

func newLoop(w *worker, el gnet.EventLoop, seed uint64) *loop {
	l := &loop{w: w, el: el, lat: newHist(), ivl: newHist(), connect: newHist(), ivlConn: newHist(), lag: newHist(), tlsHS: newHist(),
		rng: rand.New(rand.NewPCG(seed, uint64(time.Now().UnixNano())))}
	switch w.cfg.Scenario {
	case Echo:
		l.pay = newEchoPayload(w.cfg.Payload)
		if w.cfg.Compression {
			fillChatLike(l.pay[echoHeaderLen:])
		}
	case AttackInbound:
		l.pay = newEchoPayload(w.cfg.Payload)
		l.atk = attackFrame(w.cfg.FrameSize)
		l.atkHead = codec.HeaderLen(w.cfg.FrameSize, true)
	case Broadcast, Chat, AttackOutbound:
		l.pay = newChatPayload(w.cfg.Payload)
		if w.cfg.Compression {
			fillChatLike(l.pay[chatHeaderLen:])
		}
		nodes := len(w.cfg.URLs)
		l.pairs = make([]pairCounts, nodes*nodes)
		l.seen = make([][]uint64, len(w.slots))
		for k, n := range w.slots {
			l.seen[k] = newBitmap(n)
		}
	}
	l.openN = make([]int, max(len(w.cfg.URLs), 1))
	l.sentN, l.recvN = make([]int64, len(l.openN)), make([]int64, len(l.openN))
	// Sized once so that the hot path never grows them: a frame is at most
	// the payload plus a 14-byte header, whispers add the command and name.
	l.out = make([]byte, 0, 4*(w.cfg.Payload+64)*max(w.cfg.InFlight, 1))
	l.wbuf = make([]byte, 0, w.cfg.Payload+64)
	if w.pilot != nil {
		l.mx = newLoopMix(l)
	}
	return l
}

// lock takes mu for the loop goroutine and reports whether it did. gnet
// calls OnClose synchronously from inside Write and Close, so a handler that
// already holds mu must not take it again: held, written and read only by
// the loop goroutine, says it does.
func (l *loop) lock() bool {
	if l.held {
		return false
	}
	l.mu.Lock()
	l.held = true
	return true
}

// unlock releases what lock took. Connections closed meanwhile leave
// l.conns and the send heap only now, so that no caller iterating them sees
// them move.
func (l *loop) unlock(took bool) {
	if !took {
		return
	}
	for i, c := range l.dead {
		l.remove(c)
		l.dead[i] = nil
	}
	l.dead = l.dead[:0]
	l.held = false
	l.mu.Unlock()
}

// sending reports whether messages may be sent at now.
func (l *loop) sending(now int64) bool {
	start := l.w.startAt.Load()
	return start != 0 && now >= start && now < l.w.stopAt.Load()
}

// Run is the loop's tick, posted by the worker's pacer with Execute: it
// times out handshakes, starts the load phase, sends what the schedule says
// is due and pings. It implements gnet.Runnable.
func (l *loop) Run(context.Context) error {
	l.queued.Store(false)
	defer l.unlock(l.lock())
	now := nowNanos()
	l.sweepHandshakes(now)
	if l.mx != nil { // a staged mix keeps its own schedule
		l.mixTick(now)
		return nil
	}
	l.maybeBegin(now)
	l.sendDue(now)
	if l.started && l.w.cfg.Trickle > 0 && l.atk != nil && now < l.w.stopAt.Load() {
		l.trickle(now)
	}
	if l.w.cfg.PingPeriod > 0 {
		l.pingAll(now)
	}
	return nil
}

// maybeBegin starts the load phase on this loop once its time has come:
// from the tick, and from every read (before the read's own frames), so
// that no message of the load phase is handled before the loop counted its
// users in.
func (l *loop) maybeBegin(now int64) {
	if !l.started && l.mx == nil { // a staged mix has no one load phase
		if start := l.w.startAt.Load(); start != 0 && now >= start {
			l.begin(now)
		}
	}
}

// begin starts the load phase on this loop: the users open now are the
// ones the run counts (open at start), each gets its seqWindows, and the
// senders their first slot.
func (l *loop) begin(now int64) {
	l.started = true
	w := l.w
	start := w.startAt.Load()
	counted := 0
	for _, c := range l.conns {
		if c.state == stateOpen && c.role != roleAttacker && !c.greet {
			counted++
		}
	}
	if n := len(w.slots); n > 0 {
		// One slab for the loop: every counted user's windows, one per
		// sender (the memory bound is checked by Run, trackBytes).
		l.windows = make([]seqWindow, counted*n)
	}
	i := 0
	for _, c := range l.conns {
		if c.state != stateOpen || c.greet {
			continue
		}
		if c.role == roleAttacker {
			l.st.attackers++
			if l.sending(now) {
				l.startAttack(c)
			}
			continue
		}
		c.counted = true
		if n := len(w.slots); n > 0 {
			c.rx = l.windows[i*n : (i+1)*n : (i+1)*n]
		}
		i++
		l.st.openAtStart++
		l.openN[c.node]++
		if t := c.tx; t != nil {
			c.next = start + t.tt.at
			l.heap.push(c)
			if t.sent != nil {
				l.senders = append(l.senders, t)
			}
			continue
		}
		if w.cfg.Scenario == Echo || w.cfg.Scenario == AttackInbound {
			// Closed loop: InFlight messages now, then one per reply.
			if !l.sending(now) {
				continue // a tick so late that the phase is over: send nothing
			}
			l.out = l.out[:0]
			for range w.cfg.InFlight {
				l.appendEcho(c, now)
			}
			_ = l.write(c, l.out)
		}
	}
}

// lateLimit is how far behind its slot a message may still be sent: a
// sender later than that (the client stalled) skips the slot and counts it,
// rather than send a burst that the server would be measured against.
// attack-outbound never skips: its lines are the attack.
const lateLimit = int64(100 * time.Millisecond)

// sendDue sends every scheduled message whose slot has come, stamped with
// its slot's time, and skips (and counts) the ones more than lateLimit
// late. Each sender's due messages go out in one write.
func (l *loop) sendDue(now int64) {
	if !l.started || l.heap.len() == 0 {
		return
	}
	w := l.w
	start := w.startAt.Load()
	skip := w.cfg.Scenario != AttackOutbound
	for l.heap.len() > 0 {
		c := l.heap.min()
		t := c.tx
		if c.state != stateOpen || t.tt.q >= t.slots {
			l.heap.remove(c)
			if w.cfg.Scenario == AttackOutbound && c.state == stateOpen {
				w.linesDone.CompareAndSwap(0, now) // every line sent: the load phase may end
			}
			continue
		}
		if c.next > now {
			return
		}
		l.out = l.out[:0]
		for c.next <= now && t.tt.q < t.slots { // the slots end before stopAt
			if skip && now-c.next > lateLimit {
				t.skipped++
				l.st.Skipped++
			} else {
				recordNanos(l.lag, now-c.next)
				if t.sent != nil {
					l.appendChat(c, c.next, now)
				} else {
					l.appendEcho(c, c.next)
				}
			}
			t.tt.advance()
			c.next = start + t.tt.at
		}
		if len(l.out) > 0 {
			// On an error gnet has closed it (OnClose counted it): it
			// leaves the heap on the next pass.
			_ = l.write(c, l.out)
		}
		l.heap.fix(c)
	}
}

// appendChat appends one broadcast or chat message from c, due at due, to
// l.out, and records it as sent.
func (l *loop) appendChat(c *conn, due, now int64) {
	w := l.w
	t := c.tx
	kind := byte(kindBroadcast)
	to := uint32(noTarget)
	var name []byte
	if w.cfg.WhisperFrac > 0 && l.rng.Float64() < w.cfg.WhisperFrac {
		if id, n := w.pickName(l.rng, c.id); n != nil {
			kind, to, name = kindWhisper, uint32(id), n
		}
	}
	q := t.tt.q
	stampChat(l.pay, kind, uint32(c.id), q, to, due)
	msg := l.pay
	if kind == kindWhisper {
		l.wbuf = append(l.wbuf[:0], "/whisper "...)
		l.wbuf = append(l.wbuf, name...)
		l.wbuf = append(l.wbuf, ' ')
		l.wbuf = append(l.wbuf, l.pay...)
		msg = l.wbuf
		t.to[q] = int32(to)
	}
	mask := codec.NewMask()
	l.out = codec.AppendFrame(l.out, true, codec.OpText, msg, &mask)
	setBit(t.sent, q)
	l.st.Sent++
	l.sentN[c.node]++
}

// ready counts c connected at now (its upgrade, or a /chat user's
// greeting): its connect time from the moment its dial was due, and the
// worker's counts.
func (l *loop) ready(c *conn, now int64) {
	l.record(l.connect, now-c.dialed)
	recordNanos(l.ivlConn, now-c.dialed)
	l.w.opened(c.node, now)
	l.w.sourceOpened(c.id)
	if c.mx != nil {
		l.mixReady(c, now)
	}
}

// record records a duration in h, counting a negative one (see
// loopStats.negative).
func (l *loop) record(h *hdr.Histogram, d int64) {
	if d < 0 {
		l.st.Negative++
	}
	recordNanos(h, d)
}

// sweepHandshakes fails connections whose 101 (or /chat greeting) is
// overdue and forgets the ones that finished.
func (l *loop) sweepHandshakes(now int64) {
	keep := l.pending[:0]
	for _, c := range l.pending {
		greeting := c.state == stateOpen && c.greet
		if c.state != stateHandshake && !greeting {
			continue
		}
		if now >= c.deadline {
			what := "no upgrade response"
			if greeting {
				what = "no greeting after the upgrade"
			}
			l.failConn(c, &FailError{Reason: ReasonHandshakeTimeout,
				Msg: "bench: " + what + " from " + l.w.targets[c.node].addr + " within " + l.w.cfg.HandshakeTimeout.String()})
			_ = l.el.Close(c.gc)
			continue
		}
		keep = append(keep, c)
	}
	clear(l.pending[len(keep):])
	l.pending = keep
}

// pingAll pings every open connection once per PingPeriod.
func (l *loop) pingAll(now int64) {
	if !every(&l.nextPing, now, l.w.cfg.PingPeriod) {
		return
	}
	var buf [16]byte
	for _, c := range l.conns {
		// An attacker is mid-frame: a ping would only be more payload.
		if c.state == stateOpen && c.role != roleAttacker {
			mask := codec.NewMask()
			_ = l.write(c, codec.AppendFrame(buf[:0], true, codec.OpPing, nil, &mask))
		}
	}
}

// every reports whether a period that began at the first call (at which
// *next is zero) has come round at now, and if so schedules the next one.
func every(next *int64, now int64, period time.Duration) bool {
	if *next == 0 {
		*next = now + int64(period)
		return false
	}
	if now < *next {
		return false
	}
	*next = now + int64(period)
	return true
}

// failConn counts c as a failed connection.
func (l *loop) failConn(c *conn, fe *FailError) {
	c.state = stateFailed
	l.w.failed(c.node, fe)
}

// add and remove keep l.conns, swap-removing by index.
func (l *loop) add(c *conn) {
	c.idx = len(l.conns)
	l.conns = append(l.conns, c)
}

func (l *loop) remove(c *conn) {
	if c.idx < 0 || c.idx >= len(l.conns) || l.conns[c.idx] != c {
		return
	}
	last := len(l.conns) - 1
	l.conns[c.idx] = l.conns[last]
	l.conns[c.idx].idx = c.idx
	l.conns[last] = nil
	l.conns = l.conns[:last]
	c.idx = -1
	if c.hidx >= 0 {
		l.heap.remove(c)
	}
}

// closeAll sends a close frame on every open connection, at the end of the
// run, and closes them.
func (l *loop) closeAll() {
	defer l.unlock(l.lock())
	var buf [16]byte
	for _, c := range l.conns {
		if c.state == stateOpen && c.role != roleAttacker { // mid-frame: TCP close only
			mask := codec.NewMask()
			_ = l.write(c, codec.AppendClose(buf[:0], codec.StatusNormalClosure, "", &mask))
		}
	}
	for _, c := range append([]*conn(nil), l.conns...) {
		_ = l.el.Close(c.gc)
	}
}
