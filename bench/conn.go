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
// calls it. Fields set before Enroll (id, dialed, key, sender) are read-only
// afterwards; the rest belong to the loop and are touched under l.mu.
type conn struct {
	gc     gnet.Conn
	l      *loop
	id     int   // global user index, 0..Conns-1
	node   int   // index of its URL in Config.URLs (Config.NodeOf(id))
	sender int32 // ordinal among the senders (broadcast) or talkers (chat); -1: never sends
	role   role
	state  connState
	idx    int // position in l.conns, -1 when not there
	hidx   int // position in l.heap, -1 when not scheduled

	dialed   int64 // Unix ns when the dial began
	deadline int64 // Unix ns by which the 101 (and a /chat user's greeting) must have arrived
	// greet marks a /chat user not greeted yet: it counts as connected at
	// its greeting (the chat's first message), not at the upgrade. A
	// clustered node greets once the cluster has granted the user's name
	// and confirmed the room's subscription: before that it would miss
	// broadcasts that a run counts it in for.
	greet    bool
	next     int64 // Unix ns of the next scheduled send
	seq      uint32
	inflight int32 // echo messages sent and not yet echoed

	atkOff    int // attack-inbound attacker: bytes of its loop's attack frame written
	closeCode int // close code the server sent, 0: none

	dec codec.Decoder
	key [keyLen]byte
	why *FailError // why the connection is closing, for OnClose; nil: the peer just went away
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
			recv := l.st.recv
			l.onMessage(c, ev.Op, p, now)
			if l.st.recv != recv {
				l.st.wire += int64(k) // the frame as it came, header included
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
		sent, ok := echoSent(p)
		if op != codec.OpBinary || !ok {
			l.st.other++
			return
		}
		recordNanos(l.lat, now-sent)
		recordNanos(l.ivl, now-sent)
		l.st.recv++
		l.st.bytes += int64(len(p))
		c.inflight--
		l.st.inflight--
		if l.sending(now) {
			l.appendEcho(c, now)
		}
	case Broadcast, Chat, AttackOutbound:
		m, ok := parseChat(p)
		if op != codec.OpText || !ok {
			l.st.other++
			return
		}
		if m.kind == kindWhisper && int(m.sender) == c.id {
			// A server may echo a whisper to its sender; only the target's
			// copy is a delivery.
			l.st.whisperEchoes++
			return
		}
		recordNanos(l.lat, now-m.sent)
		recordNanos(l.ivl, now-m.sent)
		l.st.recv++
		l.recvN[c.node]++
		l.st.bytes += int64(len(p))
		if b := l.bucket(m.sent); b >= 0 {
			if m.kind == kindWhisper {
				l.recvW[b]++
			} else {
				l.recvB[b]++
				from := l.w.cfg.NodeOf(int(m.sender))
				l.recvX[from*len(l.ackN)+c.node][b]++
				if int(m.sender) == c.id {
					// The sender's own copy: the server accepted the message
					// and relayed it to everyone.
					l.ackB[b]++
					l.ackN[from][b]++
				}
			}
		}
		if l.w.names != nil && m.kind == kindBroadcast {
			l.w.learnName(int(m.sender), p, m.at)
		}
	default:
		l.st.other++
	}
}

// appendEcho appends one echo request stamped now to l.out.
func (l *loop) appendEcho(c *conn, now int64) {
	stampEcho(l.pay, now)
	mask := codec.NewMask()
	l.out = codec.AppendFrame(l.out, true, codec.OpBinary, l.pay, &mask)
	c.inflight++
	l.st.inflight++
	l.st.sent++
}

// bucket is the accounting second of a message sent at sent, or -1.
func (l *loop) bucket(sent int64) int {
	start := l.w.startAt.Load()
	if start == 0 || sent < start {
		return -1
	}
	b := int((sent - start) / 1e9)
	if b >= len(l.sentB) {
		return -1
	}
	return b
}
