package bench

import (
	"bytes"
	"math"
	"sync/atomic"
	"time"

	"edgews/codec"
	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// The loop side of a staged mix (see pilot.go for the worker side). Each
// user is idle, echo or chat (mixConn.kind), on its kind's route:
//
//   - echo users send on a fixed period (open loop), each message stamped
//     with when it was due, so a stalled server shows in the round trips;
//   - chat users talk at Poisson times, stamped when due too; every user
//     on the chat's route (idle ones included) is a room member and
//     receives the room;
//   - idle users only answer pings.
//
// Chat loss is counted per second of send time (mixBucket): the talkers'
// messages the server accepted (their own copy came back) times the
// members "stable" for that second, against what those members received
// of them. A member is stable for second b if it was greeted before b
// began and the stages keep it connected until b's deliveries had Drain
// to arrive; members joining or leaving mid-second are in neither count.
// Talkers stop talking, and echo users stop sending, Drain before the
// stages close them, so that what they sent can all come back.

// mixConn is a staged run's part of a conn. Set before the dial and
// read-only after, but for loop and cancel (atomics) and b0, b1 (the
// loop's).
type mixConn struct {
	kind   mixKind
	json   bool // speaks chat.v1+json
	room   bool // on the chat's route: receives the room
	loop   atomic.Pointer[loop]
	cancel atomic.Bool // its slot closed: do not enroll, close when open
	// phase is phaseOpening until it is connected (phaseUp), and then
	// phaseOver once it failed or closed: the pilot reads it.
	phase   atomic.Int32
	closeAt int64 // when the stages close it, Unix ns (MaxInt64: never)
	// b0..b1 are the seconds it is stable for: from the greeting (b0 is
	// MaxInt64 before it) to its planned close.
	b0, b1 int64
}

// mixConn phases.
const (
	phaseOpening int32 = iota // queued, dialing, upgrading or awaiting the greeting
	phaseUp                   // connected
	phaseOver                 // failed, cancelled or closed
)

// loopMix is a loop's state in a staged mix.
type loopMix struct {
	st      mixStats
	echoPay []byte // echo payload template (l.pay is the chat's)
	ring    []mixBucket
	minB    int64 // seconds below are finalized
	counted int64 // the ring holds seconds minB..counted, stable members counted
}

// mixStats is a loop's counts of the current stage.
type mixStats struct {
	opened, closed, cancelled, disconnects       int
	echoSent, echoRecv, echoLost, echoExtra      int64
	echoDup                                      int64
	chatSent, chatRecv, whisperSent, whisperEcho int64
	bytes, other, late, lateRecv                 int64
	echo, chat, connect                          *hdr.Histogram
}

func (s *mixStats) addTo(r *stageResult, h [3]*hdr.Histogram) {
	r.Opened += s.opened
	r.Closed += s.closed
	r.Cancelled += s.cancelled
	r.Disconnects += s.disconnects
	r.EchoSent += s.echoSent
	r.EchoRecv += s.echoRecv
	r.EchoLost += s.echoLost
	r.EchoExtra += s.echoExtra
	r.EchoDup += s.echoDup
	r.ChatSent += s.chatSent
	r.ChatRecv += s.chatRecv
	r.WhisperSent += s.whisperSent
	r.WhisperEchoes += s.whisperEcho
	r.Bytes += s.bytes
	r.Other += s.other
	r.Late += s.late
	r.LateRecv += s.lateRecv
	h[0].Merge(s.echo)
	h[1].Merge(s.chat)
	h[2].Merge(s.connect)
}

func (s *mixStats) reset() {
	echo, chat, connect := s.echo, s.chat, s.connect
	echo.Reset()
	chat.Reset()
	connect.Reset()
	*s = mixStats{echo: echo, chat: chat, connect: connect}
}

// newLoopMix is l's mix state: its ring holds the seconds not finalized.
func newLoopMix(l *loop) *loopMix {
	p := l.w.pilot
	p.mu.Lock()
	through := p.through
	p.mu.Unlock()
	ring := make([]mixBucket, int(l.w.cfg.Drain/time.Second)+8)
	for i := range ring {
		ring[i].B = -1
	}
	l.pay = newChatPayload(l.w.cfg.Payload)
	return &loopMix{st: mixStats{echo: newHist(), chat: newHist(), connect: newHist()},
		echoPay: newEchoPayload(l.w.cfg.Payload), ring: ring, minB: through, counted: through - 1}
}

// Prefixes of the JSON events that carry a chat line.
var (
	jsonMessage = []byte(`{"type":"message"`)
	jsonWhisper = []byte(`{"type":"whisper"`)
)

// mixOpen is OnOpen's part for a mix user: its route, its subprotocol,
// whether it waits for a greeting; false if its slot closed meanwhile.
func (l *loop) mixOpen(c *conn, path, proto *string) bool {
	m := l.w.cfg.Mix
	*path = m.pathOf(c.mx.kind)
	c.greet = c.mx.room
	if c.mx.json {
		*proto = jsonProtocol
	}
	c.mx.loop.Store(l) // before reading cancel: see pilot.close
	return !c.mx.cancel.Load()
}

// jsonProtocol is the chat's JSON subprotocol (hub.ProtocolJSON).
const jsonProtocol = "chat.v1+json"

// mixReady starts a user that became connected at now: its stable
// seconds, and for echo and chat users their schedule.
func (l *loop) mixReady(c *conn, now int64) {
	p, mx := l.w.pilot, c.mx
	mx.phase.Store(phaseUp)
	l.mx.st.opened++
	recordNanos(l.mx.st.connect, now-c.dialed)
	mx.b0 = p.sched.bucketOf(now) + 1
	mx.b1 = math.MaxInt64
	if mx.closeAt != math.MaxInt64 {
		mx.b1 = floorDiv(mx.closeAt-int64(l.w.cfg.Drain)-p.sched.start, int64(time.Second)) - 1
	}
	switch mx.kind {
	case kindEcho:
		c.next = now + int64(l.rng.Float64()*float64(l.mixGap(c)))
	case kindChat:
		c.next = now + l.mixGap(c)
	default:
		return
	}
	l.heap.push(c)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// mixGap is the time to a user's next message.
func (l *loop) mixGap(c *conn) int64 {
	m := l.w.cfg.Mix
	if c.mx.kind == kindEcho {
		return int64(1e9 / m.EchoRate)
	}
	return int64(l.rng.ExpFloat64() / m.ChatRate * 1e9)
}

// mixMay reports whether c may still send a message due at t: before the
// stages end, and long enough before its planned close that the reply
// (echo) or every delivery (chat) is counted.
func (l *loop) mixMay(c *conn, t int64) bool {
	p := l.w.pilot
	if t >= p.sched.end() {
		return false
	}
	if c.mx.kind == kindEcho {
		return c.mx.closeAt == math.MaxInt64 || t+int64(l.w.cfg.Drain) <= c.mx.closeAt
	}
	return p.sched.bucketOf(t) <= c.mx.b1
}

// mixTick is the loop's tick in a mix: the stable members of a new
// second, the messages due, the pings.
func (l *loop) mixTick(now int64) {
	p := l.w.pilot
	if p.sched != nil && now >= p.sched.start {
		l.mixAdvance(now)
		for c := l.heap.due(now); c != nil; c = l.heap.due(now) {
			// Over lateLimit behind (the client stalled): skip, counting
			// each message, rather than burst to catch up.
			for n := 0; now-c.next > lateLimit && l.mixMay(c, c.next); n++ {
				l.mx.st.late++
				l.st.Skipped++
				if c.next += l.mixGap(c); n > 100000 {
					c.next = now
				}
			}
			if !l.mixMay(c, c.next) {
				l.heap.remove(c)
				continue
			}
			if c.next <= now {
				recordNanos(l.lag, now-c.next)
				l.mixSend(c)
				c.next += l.mixGap(c)
			}
			l.heap.fix(c)
		}
	}
	if l.w.cfg.PingPeriod > 0 {
		l.pingAll(now)
	}
}

// mixSend sends c's message due at c.next, stamped with that time.
func (l *loop) mixSend(c *conn) {
	mask := codec.NewMask()
	if c.mx.kind == kindEcho {
		stampEcho(l.mx.echoPay, c.next, c.seq)
		l.out = codec.AppendFrame(l.out[:0], true, codec.OpBinary, l.mx.echoPay, &mask)
		if err := l.write(c, l.out); err != nil {
			return
		}
		c.seq++
		c.inflight++
		l.mx.st.echoSent++
		l.st.Sent++
		return
	}
	p := l.w.pilot
	b := p.sched.bucketOf(c.next)
	slot := l.mx.bucket(b)
	if slot == nil {
		l.mx.st.late++ // its second is already counted
		return
	}
	kind, target := byte(kindBroadcast), uint32(noTarget)
	var to []byte
	if p.names != nil && l.rng.Float64() < l.w.cfg.Mix.Whisper {
		var slot int
		if slot, to = p.pickName(l, c.id, c.next, b); to != nil {
			kind, target = kindWhisper, uint32(slot)
		}
	}
	stampChat(l.pay, kind, uint32(c.id), c.seq, target, c.next)
	c.seq++
	msg := l.mixLine(c.mx.json, to, l.pay)
	l.out = codec.AppendFrame(l.out[:0], true, codec.OpText, msg, &mask)
	if err := l.write(c, l.out); err != nil {
		return
	}
	l.st.Sent++
	l.mx.st.chatSent++
	if kind == kindWhisper {
		l.mx.st.whisperSent++
		slot.SentW++
	} else {
		slot.Sent++
	}
}

// mixLine is the chat line for payload: as is, a /whisper, or either
// as a JSON command.
func (l *loop) mixLine(json bool, to, payload []byte) []byte {
	switch {
	case !json && to == nil:
		return payload
	case !json:
		l.wbuf = append(append(append(l.wbuf[:0], "/whisper "...), to...), ' ')
	case to == nil:
		l.wbuf = append(l.wbuf[:0], `{"type":"message","text":"`...)
	default:
		l.wbuf = append(append(append(l.wbuf[:0], `{"type":"whisper","to":"`...), to...), `","text":"`...)
	}
	l.wbuf = append(l.wbuf, payload...)
	if json {
		l.wbuf = append(l.wbuf, `"}`...)
	}
	return l.wbuf
}

// mixMessage handles a message a mix user received.
func (l *loop) mixMessage(c *conn, op codec.OpCode, p []byte, now int64) {
	st := &l.mx.st
	if c.mx.kind == kindEcho {
		sent, seq, ok := echoStamp(p)
		if op != codec.OpBinary || !ok {
			st.other++
			return
		}
		st.echoRecv++
		st.bytes += int64(len(p))
		l.st.Received++
		l.st.Bytes += int64(len(p))
		if seq >= c.seq { // never sent on this connection
			st.echoExtra++
			return
		}
		if c.ew.add(seq) != firstCopy {
			st.echoDup++
			return
		}
		recordNanos(st.echo, now-sent)
		l.record(l.lat, now-sent)
		recordNanos(l.ivl, now-sent)
		c.inflight--
		return
	}
	if op != codec.OpText || (c.mx.json && !bytes.HasPrefix(p, jsonMessage) && !bytes.HasPrefix(p, jsonWhisper)) {
		st.other++ // presence, history, notices, errors
		return
	}
	m, ok := parseChat(p)
	if !ok {
		st.other++
		return
	}
	if m.kind == kindWhisper && int(m.sender) == c.id {
		st.whisperEcho++ // the whisperer's copy: not a delivery
		return
	}
	recordNanos(st.chat, now-m.sent)
	l.record(l.lat, now-m.sent)
	recordNanos(l.ivl, now-m.sent)
	st.chatRecv++
	st.bytes += int64(len(p))
	l.st.Received++
	l.st.Bytes += int64(len(p))
	pl := l.w.pilot
	l.mixAdvance(now)
	b := pl.sched.bucketOf(m.sent)
	slot := l.mx.bucket(b)
	if slot == nil {
		// After its second was finalized: counted as lost, and as late if
		// this member was expected to receive it.
		if b >= 0 && b < l.mx.minB && c.mx.b0 <= b && b <= c.mx.b1 && (m.kind == kindWhisper || int(m.sender) != c.id) {
			st.lateRecv++
		}
		return
	}
	if m.kind == kindBroadcast && int(m.sender) == c.id {
		slot.Acked++
	}
	if c.mx.b0 <= b && b <= c.mx.b1 {
		if m.kind == kindWhisper {
			slot.RecvW++
		} else {
			slot.Recv++
		}
	}
	if pl.names != nil && m.kind == kindBroadcast {
		var name []byte
		if c.mx.json {
			name = jsonFrom(p[:m.at])
		} else {
			name = senderName(p, m.at)
		}
		pl.learn(int(m.sender), name, m.sent)
	}
}

// jsonFrom returns the "from" of a JSON event's head, or nil.
func jsonFrom(p []byte) []byte {
	const key = `"from":"`
	i := bytes.Index(p, []byte(key))
	if i < 0 {
		return nil
	}
	p = p[i+len(key):]
	if j := bytes.IndexByte(p, '"'); j > 0 {
		return p[:j]
	}
	return nil
}

// bucket is the ring's entry for second b, nil if it is finalized or not
// counted yet.
func (mx *loopMix) bucket(b int64) *mixBucket {
	if b < mx.minB || b > mx.counted {
		return nil
	}
	s := &mx.ring[b%int64(len(mx.ring))]
	if s.B != b {
		return nil
	}
	return s
}

// mixAdvance opens the ring's entries up to now's second, counting each
// one's stable members.
func (l *loop) mixAdvance(now int64) {
	p := l.w.pilot
	nb := min(p.sched.bucketOf(now), p.sched.bucketOf(p.sched.end()+int64(l.w.cfg.Drain)))
	mx := l.mx
	for b := mx.counted + 1; b <= nb; b++ {
		if b >= mx.minB+int64(len(mx.ring)) {
			return // the finalizer is behind; the ring waits for it
		}
		s := &mx.ring[b%int64(len(mx.ring))]
		*s = mixBucket{B: b}
		for _, c := range l.conns {
			if c.mx != nil && c.mx.room && c.state == stateOpen && !c.greet && c.mx.b0 <= b && b <= c.mx.b1 {
				s.Stable++
			}
		}
		mx.counted = b
	}
}

// mixFinalize adds the seconds from..limit to sums (sums[0] is second
// base) and drops them from the ring.
func (l *loop) mixFinalize(now, base, limit int64, sums []mixBucket) {
	mx := l.mx
	mx.minB = max(mx.minB, base)
	mx.counted = max(mx.counted, mx.minB-1)
	l.mixAdvance(now)
	for b := mx.minB; b <= limit && b <= mx.counted; b++ {
		s := &mx.ring[b%int64(len(mx.ring))]
		if s.B == b {
			sums[b-base].add(s)
		}
		s.B = -1
	}
	mx.minB = max(mx.minB, limit+1)
	mx.counted = max(mx.counted, mx.minB-1)
}

// mixEchoLost counts the echoes still awaited at the end as lost.
func (l *loop) mixEchoLost() {
	for _, c := range l.conns {
		if c.mx != nil && c.inflight > 0 {
			l.mx.st.echoLost += int64(c.inflight)
			c.inflight = 0
		}
	}
}

// closePlanned closes c because its slot closed: a close frame if it is
// open, then the TCP close. On the loop.
func (l *loop) closePlanned(c *conn) {
	defer l.unlock(l.lock())
	switch c.state {
	case stateOpen:
		var buf [16]byte
		mask := codec.NewMask()
		_ = l.write(c, codec.AppendClose(buf[:0], codec.StatusNormalClosure, "", &mask))
		fallthrough
	case stateHandshake:
		_ = l.el.Close(c.gc)
	}
}

// mixClosed is OnClose's part for a mix user: echoes it awaited are lost;
// a close the stages made is counted as closed and leaves c.state
// stateClosed (neither a failure nor a loss for OnClose); a close the
// server made is counted as a disconnect, and OnClose goes on as usual.
func (l *loop) mixClosed(c *conn) {
	c.mx.phase.Store(phaseOver)
	if l.w.closing.Load() {
		return
	}
	st := &l.mx.st
	if c.inflight > 0 {
		st.echoLost += int64(c.inflight)
		c.inflight = 0
	}
	open := c.state == stateOpen && !c.greet
	if !c.mx.cancel.Load() {
		if open {
			st.disconnects++
			l.st.disconnects++
		}
		return
	}
	if open {
		st.closed++
		l.w.closedOpen()
	} else {
		st.cancelled++ // before its upgrade or greeting
	}
	c.state = stateClosed
}
