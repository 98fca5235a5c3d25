package bench

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"syscall"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
)

// reactor is the gnet client's event handler: the bench's side of every
// connection, driven by gnet's event loops. There is no goroutine per
// connection: a connection is a *conn in its loop's list.
type reactor struct {
	gnet.BuiltinEventEngine
	w *worker
}

// OnOpen runs on the loop when a dialed connection is enrolled: it writes
// the upgrade request (gnet writes the returned bytes).
func (r *reactor) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	c := gc.Context().(*conn)
	l := r.w.loopOf(gc.EventLoop())
	defer l.unlock(l.lock())
	c.gc, c.l = gc, l
	c.state = stateHandshake
	c.deadline = nowNanos() + int64(r.w.cfg.HandshakeTimeout) // TLS and the upgrade together
	l.add(c)
	l.pending = append(l.pending, c)
	if r.w.targets[c.node].tls {
		c.tls = new(connTLS)
		r.w.startTLS(c) // the upgrade request follows the handshake (handshakeDone)
		return nil, gnet.None
	}
	req, ok := r.w.upgradeRequest(c)
	if !ok {
		return nil, gnet.Close // its slot closed while it was dialed
	}
	return req, gnet.None
}

// upgradeRequest is c's upgrade request (and notes whether c is a /chat
// user to be greeted); false when c's load-plan slot closed meanwhile. On
// c's loop, locked.
func (w *worker) upgradeRequest(c *conn) ([]byte, bool) {
	t := w.targets[c.node]
	path := t.path
	if c.role == roleHealthy && w.cfg.Scenario == AttackInbound {
		path = DefaultPath[Echo] // they echo, whatever route is attacked
	}
	c.greet = strings.HasSuffix(path, "/chat") && c.role != roleAttacker
	var proto string
	if c.mx != nil && !c.l.mixOpen(c, &path, &proto) {
		return nil, false
	}
	return appendUpgradeRequest(nil, t.addr, path, c.key[:], w.cfg.Compression, proto), true
}

// OnTraffic parses what gnet has buffered: the 101 response, then frames,
// in place, discarding only whole frames; a partial frame waits in gnet's
// buffer for the next read. A wss connection's records are opened first
// (read), or fed to its handshake while that is in flight.
func (r *reactor) OnTraffic(gc gnet.Conn) gnet.Action {
	c := gc.Context().(*conn)
	l := c.l
	took := l.lock()
	defer l.unlock(took)
	if c.tls != nil && c.tls.hs != nil {
		feedHandshake(c)
		return gnet.None
	}
	// One clock read per read event: every message in it was received at
	// the same time as far as the bench can tell.
	return r.read(c, nowNanos())
}

// read parses what c has buffered, at now (l locked): gnet's bytes, or on
// a wss connection the plaintext of the records gnet buffered (with what
// was carried from earlier reads), whose unparsed end is carried to the
// next read.
func (r *reactor) read(c *conn, now int64) gnet.Action {
	if c.tls == nil {
		buf, _ := c.gc.Peek(-1)
		n, act := r.parse(c, buf, now)
		if n > 0 { // never Discard(0): gnet reads it as "everything"
			_, _ = c.gc.Discard(n)
		}
		return act
	}
	plain, used, err := openRecords(c)
	n, act := r.parse(c, plain, now)
	keep(c, plain, n)
	if used > 0 {
		_, _ = c.gc.Discard(used)
	}
	if err != nil {
		c.l.tlsFailed(c, err)
		return gnet.Close
	}
	return act
}

// parse handles the start of buf: the 101 response, then frames. It
// returns how many bytes it consumed.
func (r *reactor) parse(c *conn, buf []byte, now int64) (int, gnet.Action) {
	l := c.l
	off := 0
	switch c.state {
	case stateHandshake:
		n, deflate, fe := parseUpgradeResponse(buf, c.key[:], r.w.targets[c.node].addr, r.w.cfg.Compression)
		if fe != nil {
			l.failConn(c, fe)
			return 0, gnet.Close
		}
		if n == 0 {
			return 0, gnet.None
		}
		off = n
		c.dec.Deflate = deflate
		c.state = stateOpen
		if c.greet {
			// Counted at the greeting (consume); the sweep fails it if
			// the greeting is overdue, as an overdue 101.
			c.deadline = now + int64(r.w.cfg.HandshakeTimeout)
		} else {
			l.ready(c, now)
		}
	case stateOpen:
	default:
		return len(buf), gnet.None
	}
	l.maybeBegin(now)
	l.out = l.out[:0]
	n, closeConn := l.consume(c, buf[off:], now)
	if len(l.out) > 0 {
		// One write for everything this read produced: echo's next
		// messages, pongs, a close answer.
		if err := l.write(c, l.out); err != nil {
			return off + n, gnet.None // gnet has closed it already
		}
	}
	// A busy loop sends what is due between ticks: less lag behind the
	// timetable than the millisecond tick alone.
	l.sendDue(now)
	if closeConn {
		return off + n, gnet.Close // OnClose counts it, with c.why
	}
	return off + n, gnet.None
}

// OnClose accounts for a closed connection: a failure during the upgrade,
// a disconnect during the run, nothing during the final close.
func (r *reactor) OnClose(gc gnet.Conn, err error) gnet.Action {
	c, _ := gc.Context().(*conn)
	if c == nil || c.l == nil {
		return gnet.None
	}
	l := c.l
	took := l.lock()
	defer l.unlock(took)
	if c.tls != nil && c.tls.hs != nil {
		c.tls.hs.Abort() // frees its worker
	}
	if c.mx != nil {
		l.mixClosed(c) // a close the stages made leaves stateClosed: not a failure, not a loss
	}
	switch c.state {
	case stateHandshake:
		msg := "bench: " + r.w.targets[c.node].addr + " closed the connection during the upgrade"
		if err != nil && !errors.Is(err, io.EOF) {
			msg += ": " + err.Error()
		}
		msg += " (is the server out of file descriptors, at a connection limit, or overloaded?)"
		reason := ReasonClosed
		if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
			l.failConn(c, fileLimitError(0, 0))
			break
		}
		l.failConn(c, &FailError{Reason: reason, Msg: msg})
	case stateOpen:
		if c.greet {
			msg := "bench: " + r.w.targets[c.node].addr + " closed a /chat connection before its greeting"
			if c.closeCode != 0 {
				msg += " (close " + strconv.Itoa(c.closeCode) + ")"
			}
			l.failConn(c, &FailError{Reason: ReasonClosed, Msg: msg})
			break
		}
		r.w.closedOpen()
		if c.role == roleAttacker {
			if !r.w.closing.Load() {
				l.attackerClosed(c) // what the attack is after: not a loss
			}
			break
		}
		if !r.w.closing.Load() {
			why := c.why
			if why == nil {
				msg := "bench: " + r.w.targets[c.node].addr + " closed an open connection without a close frame"
				if err != nil && !errors.Is(err, io.EOF) {
					msg += ": " + err.Error()
				}
				why = &FailError{Reason: ReasonClosed, Msg: msg}
			}
			r.w.lost(l, c, why)
		}
	}
	c.state = stateClosed
	// Removal from l.conns waits for unlock when the loop already held mu:
	// a caller may be iterating l.conns.
	l.dead = append(l.dead, c)
	return gnet.None
}

// gnetLogger routes gnet's warnings and errors to Logf.
type gnetLogger struct{ logf func(string, ...any) }

func (g gnetLogger) Debugf(string, ...any)     {}
func (g gnetLogger) Infof(string, ...any)      {}
func (g gnetLogger) Warnf(f string, a ...any)  { g.logf("gnet: "+f, a...) }
func (g gnetLogger) Errorf(f string, a ...any) { g.logf("gnet: "+f, a...) }
func (g gnetLogger) Fatalf(f string, a ...any) { g.logf("gnet: "+f, a...) }

var _ logging.Logger = gnetLogger{}
