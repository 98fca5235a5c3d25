package bench

import (
	"fmt"

	"edgews/codec"
	"github.com/panjf2000/gnet/v2"
)

// connState is where a connection is in its life.
type connState uint8

const (
	stateDialing   connState = iota // dialed, not yet on a loop
	stateHandshake                  // request written, waiting for the 101
	stateOpen                       // upgraded: frames flow
	stateFailed                     // the upgrade failed; counted as a failure
	stateClosed                     // gone
)

// conn is one bench connection (one user). It has no goroutine: its loop
// calls it. Fields set before Enroll (id, dialed, key, tx) are read-only
// afterwards; the rest belong to the loop and are touched under l.mu.
type conn struct {
	gc    gnet.Conn
	l     *loop
	id    int // global user index, 0..Conns-1
	node  int // index of its URL in Config.URLs (Config.NodeOf(id))
	role  role
	state connState
	idx   int // position in l.conns, -1 when not there
	hidx  int // position in l.heap, -1 when not scheduled

	dialed   int64 // clock.go ns when the dial was due (the ramp's schedule)
	deadline int64 // clock.go ns by which the 101 (and a /chat user's greeting) must have arrived
	// greet marks a /chat user not greeted yet: it counts as connected at
	// its greeting (the chat's first message), not at the upgrade. A
	// clustered node greets once the cluster has granted the user's name
	// and confirmed the room's subscription: before that it would miss
	// broadcasts that a run counts it in for.
	greet    bool
	next     int64   // clock.go ns of the next scheduled send (tx's slot)
	tx       *sender // a sender's timetable and record; nil for the others
	seq      uint32  // echo: messages sent (the next one's sequence number)
	inflight int32   // echo messages sent and not yet echoed
	// counted says the user was open when the load phase began: what the
	// run expects it to receive. rx is then its seqWindow per sender
	// (broadcast, chat), ew its echo replies', and lastStamp the newest
	// send time among the first copies it had (a cut, if it leaves).
	counted   bool
	rx        []seqWindow
	ew        seqWindow
	lastStamp int64

	atkOff    int // attack-inbound attacker: bytes of its loop's attack frame written
	closeCode int // close code the server sent, 0: none

	dec codec.Decoder
	key [keyLen]byte
	tls *connTLS   // wss: the record layer (tls.go); nil for ws
	why *FailError // why the connection is closing, for OnClose; nil: the peer just went away
	mx  *mixConn   // a staged mix's user (mix.go); nil otherwise
}

// consume decodes the frames at the start of buf and handles them; it
// returns how many bytes to discard and whether the connection must close.
// Replies (echo's next message, pongs, the close answer) are appended to
// l.out for the caller to write in one call. Payloads are read in place:
// nothing is copied and nothing allocated per frame.
func (l *loop) consume(c *conn, buf []byte, now int64) (n int, closeConn bool) {
	for {
		ev, k, err := c.dec.Next(buf[n:])
		n += k
		if err != nil {
			// A broken server stream: answer with the close code the codec
			// chose and drop the connection (the server is what is measured,
			// so there is no point draining it politely).
			mask := codec.NewMask()
			l.out = codec.AppendClose(l.out, codec.CloseCode(err), "", &mask)
			c.why = &FailError{Reason: ReasonProtocol, Msg: "bench: bad frame from " + l.w.targets[c.node].addr + ": " + err.Error()}
			return n, true
		}
		switch ev.Kind {
		case codec.KindNone:
			if k == 0 {
				return n, false // the rest of the frame has not arrived
			}
		case codec.KindMessage:
			if c.greet { // the greeting: a /chat user is connected now
				c.greet = false
				l.ready(c, now)
			}
			p := ev.Payload
			if ev.Compressed {
				var err error
				if p, err = l.inf.Inflate(p, ev.Op == codec.OpText, maxInflate); err != nil {
					mask := codec.NewMask()
					l.out = codec.AppendClose(l.out, codec.CloseCode(err), "", &mask)
					c.why = &FailError{Reason: ReasonProtocol, Msg: "bench: bad compressed message from " + l.w.targets[c.node].addr + ": " + err.Error()}
					return n, true
				}
			}
			recv := l.st.Received
			l.onMessage(c, ev.Op, p, now)
			if l.st.Received != recv {
				l.st.WireBytes += int64(k) // the frame as it came, header included
			}
		case codec.KindPing:
			mask := codec.NewMask()
			l.out = codec.AppendFrame(l.out, true, codec.OpPong, ev.Payload, &mask)
		case codec.KindPong:
			l.st.pongs++
		case codec.KindClose:
			c.closeCode = int(ev.Code)
			if c.role == roleAttacker {
				// Mid-frame: a close answer would only be more payload.
				return n, true
			}
			mask := codec.NewMask()
			code := ev.Code
			if code == codec.StatusNoStatusRcvd {
				code = 0
			}
			l.out = codec.AppendClose(l.out, code, "", &mask)
			c.why = &FailError{Reason: ReasonClosed, Msg: fmt.Sprintf("bench: %s closed an open connection with code %d %q",
				l.w.targets[c.node].addr, ev.Code, ev.Reason)}
			return n, true
		}
	}
}

// maxInflate bounds an inflated message: far above what the scenarios
// send, so only a broken server reaches it.
const maxInflate = 64 << 20

// onMessage handles one received message.
func (l *loop) onMessage(c *conn, op codec.OpCode, p []byte, now int64) {
	switch l.w.cfg.Scenario {
	case Echo, AttackInbound:
		sent, seq, ok := echoStamp(p)
		if op != codec.OpBinary || !ok {
			l.st.Other++
			return
		}
		l.st.Received++
		l.st.Bytes += int64(len(p))
		if seq >= c.seq { // never sent on this connection
			l.st.EchoExtra++
			return
		}
		switch c.ew.add(seq) {
		case beyondWindow:
			l.st.Beyond++
			fallthrough
		case duplicate:
			l.st.EchoDup++
			return
		}
		l.st.EchoFirst++
		l.record(l.lat, now-sent)
		recordNanos(l.ivl, now-sent)
		c.inflight--
		l.st.inflight--
		if c.tx == nil && l.sending(now) {
			l.appendEcho(c, now) // closed loop: the reply sends the next
		}
	case Broadcast, Chat, AttackOutbound:
		m, ok := parseChat(p)
		if op != codec.OpText || !ok {
			l.st.Other++
			if c.tx != nil && l.started {
				c.tx.replies++
			}
			return
		}
		l.onChat(c, &m, p, now)
	case Mixed:
		l.mixMessage(c, op, p, now)
	default:
		l.st.Other++
	}
}

// onChat counts one copy of a bench broadcast or whisper at c (track.go):
// a first copy (expected there or extra) or a duplicate, per pair of URLs.
// Nothing is allocated: the windows and bitmaps were sized when the load
// phase began.
func (l *loop) onChat(c *conn, m *chatMsg, p []byte, now int64) {
	w := l.w
	if !l.started && w.startAt.Load() != 0 {
		l.begin(now) // a message before this loop's first tick: count its users first
	}
	k, ok := w.senderOrdinal(int(m.sender))
	if !ok || m.seq >= w.slots[k] {
		// Not a message of this run: extra, with no pair to charge.
		l.st.Received++
		l.st.Unknown++
		return
	}
	setBit(l.seen[k], m.seq) // it arrived somewhere: the server accepted it
	if m.kind == kindWhisper && int(m.sender) == c.id {
		// A server may echo a whisper to its sender; only the target's
		// copy is a delivery.
		l.st.WhisperEchoes++
		return
	}
	l.st.Received++
	l.recvN[c.node]++
	l.st.Bytes += int64(len(p))
	from := w.cfg.NodeOf(int(m.sender))
	pc := &l.pairs[from*len(l.openN)+c.node]
	if !c.counted {
		pc.Extra++ // a user the run does not count
		return
	}
	switch c.rx[k].add(m.seq) {
	case beyondWindow:
		l.st.Beyond++
		fallthrough
	case duplicate:
		pc.Duplicated++
		return
	}
	l.record(l.lat, now-m.sent)
	recordNanos(l.ivl, now-m.sent)
	c.lastStamp = max(c.lastStamp, m.sent)
	switch {
	case m.kind == kindWhisper && int(m.to) != c.id:
		pc.Extra++ // a whisper to someone else
	case m.kind == kindBroadcast && w.cfg.Islands && from != c.node:
		pc.Extra++ // islands do not relay
	default:
		pc.First++
		if m.kind == kindWhisper {
			pc.Whispers++
		}
	}
	if w.names != nil && m.kind == kindBroadcast {
		w.learnName(int(m.sender), p, m.at)
	}
}

// appendEcho appends one echo request stamped sent (now in a closed loop,
// the slot's time in an open one) to l.out.
func (l *loop) appendEcho(c *conn, sent int64) {
	stampEcho(l.pay, sent, c.seq)
	c.seq++
	mask := codec.NewMask()
	l.out = codec.AppendFrame(l.out, true, codec.OpBinary, l.pay, &mask)
	c.inflight++
	l.st.inflight++
	l.st.Sent++
}
