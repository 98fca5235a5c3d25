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
	connect *hdr.Histogram // dial + upgrade, µs

	st loopStats
	// Accounting by send second (broadcast, chat), see workerResult.
	sentB, recvB, ackB, sentW, recvW []int64
	// The same per URL (see workerResult): ackN[from][second],
	// recvX[from*len(URLs)+to][second]; and per URL, users open at the
	// start, messages sent and received.
	ackN, recvX  [][]int64
	openN        []int
	sentN, recvN []int64

	out  []byte         // frames for the connection being handled; reused
	inf  codec.Inflater // Config.Compression: inflates for all the loop's connections
	pay  []byte         // payload template, stamped in place per message
	wbuf []byte         // "/whisper NAME " + payload
	rng  *rand.Rand

	started  bool  // the load phase began on this loop
	nextPing int64 // Unix ns

	// attack-inbound: the frame attackers write part of, its header length,
	// the next trickle (Unix ns); both attacks: attackers closed.
	atk         []byte
	atkHead     int
	nextTrickle int64
	closes      []attackClose
}

type loopStats struct {
	sent, recv, bytes, other, pongs, late int64
	wire                                  int64 // frame bytes of the counted messages (bytes: their payloads, inflated)
	whisperEchoes                         int64
	inflight                              int64
	attackers                             int // attack-inbound: open when the attack began
	attackBytes                           int64
	openAtStart                           int
	disconnects                           int
	firstDisconnect                       int64
}

func newLoop(w *worker, el gnet.EventLoop, seed uint64) *loop {
	l := &loop{w: w, el: el, lat: newHist(), ivl: newHist(), connect: newHist(),
		rng: rand.New(rand.NewPCG(seed, uint64(time.Now().UnixNano())))}
	n := int(w.cfg.Duration/time.Second) + 2
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
		l.sentB, l.recvB, l.ackB = make([]int64, n), make([]int64, n), make([]int64, n)
		l.sentW, l.recvW = make([]int64, n), make([]int64, n)
		nodes := len(w.cfg.URLs)
		l.ackN, l.recvX = make([][]int64, nodes), make([][]int64, nodes*nodes)
		for i := range l.ackN {
			l.ackN[i] = make([]int64, n)
		}
		for i := range l.recvX {
			l.recvX[i] = make([]int64, n)
		}
	}
	l.openN = make([]int, max(len(w.cfg.URLs), 1))
	l.sentN, l.recvN = make([]int64, len(l.openN)), make([]int64, len(l.openN))
	// Sized once so that the hot path never grows them: a frame is at most
	// the payload plus a 14-byte header, whispers add the command and name.
	l.out = make([]byte, 0, 4*(w.cfg.Payload+64)*max(w.cfg.InFlight, 1))
	l.wbuf = make([]byte, 0, w.cfg.Payload+64)
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
	if !l.started {
		if start := l.w.startAt.Load(); start != 0 && now >= start {
			l.begin(now)
		}
	}
	if l.started && l.heap.len() > 0 && now < l.w.stopAt.Load() {
		l.sendDue(now)
	}
	if l.started && l.w.cfg.Trickle > 0 && l.atk != nil && now < l.w.stopAt.Load() {
		l.trickle(now)
	}
	if l.w.cfg.PingPeriod > 0 {
		l.pingAll(now)
	}
	return nil
}

// begin starts the load phase on this loop.
func (l *loop) begin(now int64) {
	l.started = true
	w := l.w
	for _, c := range l.conns {
		if c.state != stateOpen {
			continue
		}
		if c.role == roleAttacker {
			l.st.attackers++
			if l.sending(now) {
				l.startAttack(c)
			}
			continue
		}
		l.st.openAtStart++
		l.openN[c.node]++
		switch w.cfg.Scenario {
		case Echo, AttackInbound:
			if !l.sending(now) {
				continue // a tick so late that the phase is over: send nothing
			}
			l.out = l.out[:0]
			for range w.cfg.InFlight {
				l.appendEcho(c, now)
			}
			_, _ = c.gc.Write(l.out)
		case Broadcast, AttackOutbound:
			if c.sender >= 0 {
				// Senders are evenly offset inside one period, so the
				// server sees a steady rate instead of bursts.
				c.next = w.startAt.Load() + int64(float64(c.sender)/w.cfg.Rate*1e9)
				l.heap.push(c)
			}
		case Chat:
			if c.sender >= 0 {
				c.next = now + l.talkGap()
				l.heap.push(c)
			}
		}
	}
}

// lateLimit is how far behind schedule a sender may fall before the pacer
// skips ahead instead of bursting to catch up.
const lateLimit = int64(100 * time.Millisecond)

// sendDue sends every scheduled message whose time has come.
func (l *loop) sendDue(now int64) {
	w := l.w
	for l.heap.len() > 0 {
		c := l.heap.min()
		if c.state != stateOpen {
			l.heap.remove(c)
			continue
		}
		if c.next > now {
			return
		}
		if w.cfg.Scenario == AttackOutbound && int(c.seq) >= w.cfg.Lines {
			l.heap.remove(c) // every line sent: the load phase may end
			w.linesDone.CompareAndSwap(0, now)
			continue
		}
		if now-c.next > lateLimit {
			l.st.late++
			c.next = now
		}
		l.sendChat(c, now)
		if w.cfg.Scenario == Chat {
			c.next += l.talkGap()
		} else {
			c.next += int64(float64(w.cfg.Senders) / w.cfg.Rate * 1e9)
		}
		l.heap.fix(c)
	}
}

// talkGap draws the time to a chat talker's next message: exponential, so
// talkers together make Poisson arrivals.
func (l *loop) talkGap() int64 {
	return int64(l.rng.ExpFloat64() / l.w.cfg.TalkRate * 1e9)
}

// sendChat sends one broadcast or chat message from c, stamped now.
func (l *loop) sendChat(c *conn, now int64) {
	w := l.w
	kind := byte(kindBroadcast)
	var to []byte
	if w.cfg.WhisperFrac > 0 && l.rng.Float64() < w.cfg.WhisperFrac {
		if to = w.pickName(l.rng, c.id); to != nil {
			kind = kindWhisper
		}
	}
	stampChat(l.pay, kind, uint32(c.id), c.seq, now)
	c.seq++
	msg := l.pay
	if kind == kindWhisper {
		l.wbuf = append(l.wbuf[:0], "/whisper "...)
		l.wbuf = append(l.wbuf, to...)
		l.wbuf = append(l.wbuf, ' ')
		l.wbuf = append(l.wbuf, l.pay...)
		msg = l.wbuf
	}
	mask := codec.NewMask()
	l.out = codec.AppendFrame(l.out[:0], true, codec.OpText, msg, &mask)
	if _, err := c.gc.Write(l.out); err != nil {
		return // gnet closes the connection; OnClose counts it
	}
	l.st.sent++
	l.sentN[c.node]++
	if b := l.bucket(now); b >= 0 {
		if kind == kindWhisper {
			l.sentW[b]++
		} else {
			l.sentB[b]++
		}
	}
}

// ready counts c connected at now (its upgrade, or a /chat user's
// greeting): its connect time, and the worker's counts.
func (l *loop) ready(c *conn, now int64) {
	recordNanos(l.connect, now-c.dialed)
	l.w.opened(c.node)
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
			_, _ = c.gc.Write(codec.AppendFrame(buf[:0], true, codec.OpPing, nil, &mask))
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
			_, _ = c.gc.Write(codec.AppendClose(buf[:0], codec.StatusNormalClosure, "", &mask))
		}
	}
	for _, c := range append([]*conn(nil), l.conns...) {
		_ = l.el.Close(c.gc)
	}
}

// nowNanos is the clock every timestamp uses: wall time, because send
// times cross processes (a worker's receiver measures a message another
// worker sent). time.Now reads the vDSO clock without a system call.
func nowNanos() int64 { return time.Now().UnixNano() }
