package engine

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"time"
	"unsafe"

	"edgews/codec/tlsrec"
	"github.com/panjf2000/gnet/v2"
)

// tlsPhase is where a TLS connection is (see tls.go).
type tlsPhase uint8

const (
	tlsHello     tlsPhase = iota // waiting for a whole ClientHello
	tlsHandshake                 // crypto/tls is at work on a pool worker
	tls13                        // the record layer runs on the loop
	tls12                        // a kept crypto/tls Conn runs on the loop
	tlsOver                      // failed, refused or closed: nothing more is read or written
	tlsGone                      // closed with its handshake in flight: the handshake's end is counted (tlsDoneTask)
)

// tlsConn is a TLS server's connection: the Conn first, so that a TLS
// server's *Conn is a *tlsConn (tlsOf), then the record layer's secrets in
// the same allocation (the 352-byte size class: the Conn's 144 and 208
// more; TestTLSConnSize), then what few connections need at a time,
// behind a pointer.
type tlsConn struct {
	Conn
	rec      tlsrec.Conn
	x        *tlsMore
	phase    tlsPhase
	aeadHeld uint16 // rec.HeldAEAD() as last charged (tlsHeld)
}

// tlsMore is a TLS connection's state while it needs it: the handshake in
// flight (or the kept TLS 1.2 one), the plaintext carried to the next
// read. A TLS 1.3 connection with nothing carried has none.
type tlsMore struct {
	hs  *tlsrec.Handshake
	pt  []byte // plaintext not yet consumed, from off
	off int
}

// isTLS reports whether c is a tlsConn's: all of a TLS server's connections
// are (Server.newConn), and their loops say so.
func (c *Conn) isTLS() bool { return c.loop.tls.on }

// tlsOf is the tlsConn a TLS connection's Conn is the first field of: it
// was allocated as one (Server.newConn), so the pointer is the tlsConn's.
func tlsOf(c *Conn) *tlsConn { return (*tlsConn)(unsafe.Pointer(c)) }

// acmeALPN is the protocol of an ACME TLS-ALPN-01 validation (RFC 8737):
// the handshake is all the validator wants.
const acmeALPN = "acme-tls/1"

// tlsChunk is the most plaintext sealed per write: four full records.
const tlsChunk = 4 * tlsrec.MaxPlaintext

// maxHandshakeFeed bounds the bytes a handshake in flight is fed ahead of
// crypto/tls; beyond it they wait in gnet's buffer (charged there).
const maxHandshakeFeed = 128 << 10

// loopTLS is a loop's TLS state, shared by its connections.
type loopTLS struct {
	on      bool     // the server serves TLS: every connection is a tlsConn
	scratch []byte   // records being written (or TLS 1.2 plaintext); reused
	parts   [][]byte // the frames of the chunk being sealed
	// The read being handled: conn's plaintext is cur, which aliases
	// gnet's inbound buffer until the read ends (then carry copies what
	// is left). Nil conn: a connection reads its carried tlsMore.pt.
	conn *Conn
	cur  []byte
	one  [1][]byte // send's iovec
}

func (l *loopTLS) buf() []byte {
	if l.scratch == nil {
		l.scratch = make([]byte, 0, tlsrec.SealedLen(tlsChunk)+64)
	}
	return l.scratch[:0]
}

// tlsTraffic handles a read on a TLS connection.
func (c *Conn) tlsTraffic() gnet.Action {
	t := tlsOf(c)
	switch t.phase {
	case tlsHello:
		return t.hello()
	case tlsHandshake:
		t.feed()
		return gnet.None
	case tls13:
		return t.read13()
	case tls12:
		return t.read12()
	}
	_, _ = c.gc.Discard(-1)
	return gnet.None
}

// hello waits for a whole ClientHello, then starts the handshake.
func (t *tlsConn) hello() gnet.Action {
	c := &t.Conn
	s := c.loop.srv
	buf, _ := c.gc.Peek(-1)
	switch tlsrec.ScanHello(buf) {
	case tlsrec.HelloPartial:
		c.account()
		return gnet.None
	case tlsrec.HelloHTTP:
		return t.refuse(TLSHTTP, []byte(tlsrec.HTTPOnTLSPort), 0)
	case tlsrec.HelloNotTLS:
		return t.refuse(TLSNotTLS, nil, tlsrec.AlertUnexpectedMessage)
	case tlsrec.HelloOverflow:
		return t.refuse(TLSNotTLS, nil, tlsrec.AlertRecordOverflow)
	case tlsrec.HelloSSLv2:
		return t.refuse(TLSVersion, nil, tlsrec.AlertProtocolVersion)
	}
	h := tlsrec.NewServer(s.tls.cfg, handshakeSent, handshakeDone)
	h.Data = c
	n := tlsrec.RecordsLen(buf)
	h.Feed(buf[:n])
	_, _ = c.gc.Discard(n)
	t.x = &tlsMore{hs: h}
	t.phase = tlsHandshake
	if !s.tls.pool.Submit(h) {
		s.tls.count(TLSBusy)
		s.log.connWarn("TLS handshake queue full: connection closed", c)
		t.end()
		c.closeNow()
		return gnet.None
	}
	c.account()
	return gnet.None
}

// refuse answers what is not a TLS client with answer, or with alert a as
// a plain record, and closes.
func (t *tlsConn) refuse(o TLSOutcome, answer []byte, a tlsrec.Alert) gnet.Action {
	c := &t.Conn
	s := c.loop.srv
	s.tls.count(o)
	if answer == nil {
		answer = tlsrec.PlainAlert(a)
		s.tls.alert(a, false)
	}
	s.log.connDebug("not a TLS client", c, slog.String("outcome", o.String()))
	_, _ = c.gc.Discard(-1)
	_, _ = c.gc.Write(answer)
	t.end()
	c.state = stateClosed
	return gnet.Close
}

// feed hands the handshake in flight the whole records that arrived.
func (t *tlsConn) feed() {
	c := &t.Conn
	if t.x.hs.Buffered() < maxHandshakeFeed {
		buf, _ := c.gc.Peek(-1)
		if n := tlsrec.RecordsLen(buf); n > 0 && t.x.hs.Feed(buf[:n]) {
			_, _ = c.gc.Discard(n)
		}
	}
	c.account()
}

// end leaves TLS: the handshake in flight is aborted, the keys wiped.
func (t *tlsConn) end() {
	if t.phase == tlsHandshake {
		t.x.hs.Abort()
	}
	t.phase = tlsOver
	t.rec.Wipe()
	t.x = nil
}

// handshakeSent and handshakeDone are a handshake's callbacks, on its worker: they
// hand its flights and its end to the connection's loop.
func handshakeSent(h *tlsrec.Handshake, b []byte) {
	c := h.Data.(*Conn)
	_ = c.loop.Post(&tlsSendTask{c: c, h: h, b: b}) // on error the loops are stopping
}

func handshakeDone(h *tlsrec.Handshake) {
	c := h.Data.(*Conn)
	if c.loop.Post(&tlsDoneTask{c: c, h: h}) != nil {
		h.Wipe()
	}
}

type tlsSendTask struct {
	c *Conn
	h *tlsrec.Handshake
	b []byte
}

func (k *tlsSendTask) Run(*Loop) {
	c := k.c
	if t := tlsOf(c); c.state == stateClosed || t.phase != tlsHandshake || t.x.hs != k.h {
		return
	}
	tlsOf(c).send(k.b)
	c.account()
}

func (k *tlsSendTask) Done() {}

type tlsDoneTask struct {
	c *Conn
	h *tlsrec.Handshake
}

func (k *tlsDoneTask) Run(l *Loop) {
	c := k.c
	t := tlsOf(c)
	if t.phase == tlsGone && t.x.hs == k.h {
		// The peer closed first: count how the handshake ended all the
		// same (an ACME validator closes at once after its handshake).
		t.count(k.h)
		k.h.Wipe()
		t.end()
		return
	}
	if c.state == stateClosed || t.phase != tlsHandshake || t.x.hs != k.h {
		k.h.Wipe()
		return
	}
	// As in a read, not a task: what handlers write is copied.
	l.inTask = false
	defer func() { l.inTask = true }()
	if t.finish(k.h) == gnet.Close {
		_ = c.gc.Close()
	}
}

func (k *tlsDoneTask) Done() {}

// finish takes over a connection whose handshake ended: it counts the
// outcome, sets up the record layer and reads what arrived meanwhile.
func (t *tlsConn) finish(h *tlsrec.Handshake) gnet.Action {
	c := &t.Conn
	s := c.loop.srv
	if !t.count(h) {
		t.end()
		c.closeNow() // after the alert crypto/tls wrote, if any: its task ran first
		return gnet.None
	}
	if h.Is12() {
		t.phase = tls12 // the kept Conn reads what the pipe holds first
		return t.read12()
	}
	in, out := h.Secrets()
	err := t.rec.Init(tlsrec.Server, h.CipherSuite(), in, out)
	h.Wipe()
	if err != nil {
		s.log.connWarn("TLS keys", c, slog.String("err", err.Error()))
		t.end()
		c.closeNow()
		return gnet.None
	}
	t.phase = tls13
	left := h.Leftover() // whole records: feed passed nothing else
	t.x.hs = nil
	if len(left) > 0 {
		res, err := t.rec.Open(left)
		t.countKeyUpdates(res.KeyUpdates)
		t.x.pt, t.x.off = res.Data, 0 // the plaintext, in the leftover's own buffer
		if err != nil {
			act := t.plainTraffic(nil)
			if e := t.recordError(err); e == gnet.Close {
				act = e
			}
			return act
		}
	}
	return t.read13()
}

// count counts how h ended: its outcome and alerts, and a completed
// one's version and time. It reports whether the connection goes on (the
// handshake completed, and was not an ACME validation's).
func (t *tlsConn) count(h *tlsrec.Handshake) bool {
	c := &t.Conn
	s := c.loop.srv
	if err := h.Err(); err != nil {
		o := TLSFailed
		if errors.Is(err, net.ErrClosed) {
			o = TLSClosed // aborted: the peer closed, or the node is stopping
		}
		if a, ok := h.SentAlert(); ok {
			s.tls.alert(a, false)
			if a == tlsrec.AlertProtocolVersion {
				o = TLSVersion
			}
		}
		if a, ok := h.ReceivedAlert(); ok {
			s.tls.alert(a, true)
		}
		s.tls.count(o)
		// crypto/tls's errors name the failure, never key material.
		s.log.connDebug("TLS handshake failed", c, slog.String("err", err.Error()))
		return false
	}
	if h.NegotiatedProtocol() == acmeALPN {
		s.tls.count(TLSACME)
		return false
	}
	s.tls.completed(h.Version(), time.Duration(c.loop.now-c.t0))
	return true
}

// read13 opens the records gnet buffered and hands their plaintext to
// onTraffic.
func (t *tlsConn) read13() gnet.Action {
	c := &t.Conn
	buf, _ := c.gc.Peek(-1)
	res, err := t.rec.Open(buf) // in place: the plaintext aliases buf
	t.countKeyUpdates(res.KeyUpdates)
	act := t.plainTraffic(res.Data)
	if res.N > 0 {
		_, _ = c.gc.Discard(res.N) // only now: buf may be gnet's pooled copy
	}
	if err != nil {
		return t.recordError(err)
	}
	if c.state != stateClosed && t.rec.NeedKeyUpdate() && c.pendHead == 0 {
		c.loop.srv.tls.st.kuOut.Add(1)
		t.writeRecord(t.rec.AppendKeyUpdate(c.loop.tls.buf(), false))
	}
	if act == gnet.Close {
		t.closeNotify()
	}
	t.rec.Release() // an idle connection's AEADs go at once (see tlsrec.Conn.Release)
	if c.held != 0 || t.x != nil || len(buf) > res.N || int(t.aeadHeld) != t.rec.HeldAEAD() {
		c.account()
	}
	return act
}

// read12 hands the kept TLS 1.2 Conn what arrived, and its plaintext to
// onTraffic.
func (t *tlsConn) read12() gnet.Action {
	c := &t.Conn
	x := t.x
	if buf, _ := c.gc.Peek(-1); len(buf) > 0 {
		x.hs.Feed(buf)
		_, _ = c.gc.Discard(len(buf))
	}
	x.compact()
	pt, err := x.hs.ReadPlain(x.pt)
	x.pt = pt
	if p := x.hs.Pending(); len(p) > 0 { // an alert crypto/tls sent (a renegotiation refused)
		t.send(p)
	}
	act := c.onTraffic()
	x.compact()
	if err != nil {
		if err == io.EOF {
			c.loop.srv.tls.alert(tlsrec.AlertCloseNotify, true)
			t.closeNotify()
		} else {
			c.loop.srv.log.connDebug("TLS 1.2 read failed", c, slog.String("err", err.Error()))
			t.end()
		}
		return gnet.Close
	}
	if act == gnet.Close {
		t.closeNotify()
	}
	c.account()
	return act
}

// plainTraffic runs onTraffic on data, the plaintext of this read, after
// whatever was carried from earlier reads, and carries what it left.
func (t *tlsConn) plainTraffic(data []byte) gnet.Action {
	c := &t.Conn
	l := c.loop
	if x := t.x; x != nil && x.off < len(x.pt) {
		if len(x.pt)+len(data) > cap(x.pt) {
			x.grow(c, len(data))
		}
		x.pt = append(x.pt, data...)
	} else {
		l.tls.conn, l.tls.cur = c, data
	}
	act := c.onTraffic()
	if l.tls.conn == c {
		rest := l.tls.cur
		l.tls.conn, l.tls.cur = nil, nil
		if len(rest) > 0 && c.state != stateClosed {
			if t.x == nil {
				t.x = new(tlsMore)
			}
			t.x.pt, t.x.off = append(t.x.pt[:0], rest...), 0
		}
	}
	if t.x != nil {
		t.x.compact()
		if t.x.hs == nil && len(t.x.pt) == 0 {
			t.x = nil
		}
	}
	return act
}

// grow makes room for n more bytes of plaintext. A frame arriving over
// many records would make append grow the buffer by a quarter at a time,
// leaving the old arrays as garbage: when the carried bytes start a frame
// whose size the header gives, the buffer doubles instead, up to that
// size, so that it takes a few copies, and never more than twice what the
// peer has sent (a header alone announcing 1 MiB reserves nothing).
func (x *tlsMore) grow(c *Conn, n int) {
	want := len(x.pt) + n
	target := want
	if c.state == stateOpen {
		d := c.dec // the connection's own decoder, or its configuration (decode.go)
		if d == nil {
			v := c.configured()
			d = &v
		}
		if need := d.FrameSize(x.pt[x.off:]); need > int64(want) {
			target = int(min(need+int64(x.off), int64(2*want)))
		}
	}
	if target <= want {
		return // append's own growth
	}
	b := make([]byte, len(x.pt), target)
	copy(b, x.pt)
	x.pt = b
}

// compact moves the carried plaintext to the start of its buffer, and
// frees the buffer once it is empty.
func (x *tlsMore) compact() {
	switch {
	case x.off == len(x.pt):
		x.pt, x.off = nil, 0
	case x.off > 0:
		x.pt = x.pt[:copy(x.pt, x.pt[x.off:])]
		x.off = 0
	}
}

// peekIn is the input the upgrade and frame parsers read: gnet's buffer,
// or on a TLS connection the plaintext of its records (see plainTraffic).
// Loop only; valid until discardIn or the end of the event.
func (c *Conn) peekIn() []byte {
	if !c.isTLS() {
		b, _ := c.gc.Peek(-1)
		return b
	}
	if c.loop.tls.conn == c {
		return c.loop.tls.cur
	}
	if x := tlsOf(c).x; x != nil {
		return x.pt[x.off:]
	}
	return nil
}

// peekHead is the first n bytes of peekIn (no copy of gnet's ring).
func (c *Conn) peekHead(n int) []byte {
	if !c.isTLS() {
		b, _ := c.gc.Peek(n)
		return b
	}
	return c.peekIn()[:n]
}

// inBuffered is len(peekIn()), without copying gnet's ring.
func (c *Conn) inBuffered() int {
	if !c.isTLS() {
		return c.gc.InboundBuffered()
	}
	return len(c.peekIn())
}

// discardIn consumes n bytes of peekIn (all of them if n < 0).
func (c *Conn) discardIn(n int) {
	if !c.isTLS() {
		_, _ = c.gc.Discard(n)
		return
	}
	l := c.loop
	if l.tls.conn == c {
		if n < 0 || n > len(l.tls.cur) {
			n = len(l.tls.cur)
		}
		l.tls.cur = l.tls.cur[n:]
		return
	}
	if x := tlsOf(c).x; x != nil {
		if n < 0 || x.off+n > len(x.pt) {
			n = len(x.pt) - x.off
		}
		x.off += n
	}
}

// writeRaw writes b to the connection now (sealed on a TLS connection),
// outside the loop's pending frames: the upgrade's answers.
func (c *Conn) writeRaw(b []byte) {
	if !c.isTLS() {
		_, _ = c.gc.Write(b)
		return
	}
	c.tlsWritev([][]byte{b})
}

// tlsWritev seals iov on a TLS connection and writes the records, one
// write per tlsChunk of plaintext; before the handshake's end (or after a
// fatal alert) it writes nothing.
func (c *Conn) tlsWritev(iov [][]byte) {
	t := tlsOf(c)
	if t.phase != tls13 && t.phase != tls12 {
		return
	}
	l := c.loop
	if t.rec.NeedKeyUpdate() {
		l.srv.tls.st.kuOut.Add(1) // Seal answers the client's request first
	}
	parts, size := l.tls.parts[:0], 0
	for _, b := range iov {
		for len(b) > 0 && c.state != stateClosed {
			k := min(len(b), tlsChunk-size)
			parts = append(parts, b[:k])
			size += k
			b = b[k:]
			if size == tlsChunk {
				t.sealWrite(parts)
				parts, size = parts[:0], 0
			}
		}
	}
	if size > 0 && c.state != stateClosed {
		t.sealWrite(parts)
	}
	clear(parts)
	l.tls.parts = parts[:0]
	t.rec.Release()
	if int(t.aeadHeld) != t.rec.HeldAEAD() {
		c.account()
	}
}

// sealWrite seals parts (at most tlsChunk bytes) into the loop's scratch
// and writes the records.
func (t *tlsConn) sealWrite(parts [][]byte) {
	l := t.loop
	if t.phase == tls12 {
		p := l.tls.buf()
		for _, b := range parts {
			p = append(p, b...)
		}
		out, err := t.x.hs.WritePlain(p)
		if err != nil {
			t.end()
			t.closeNow()
			return
		}
		t.send(out)
		return
	}
	t.writeRecord(t.rec.Seal(l.tls.buf(), parts...))
}

// writeRecord writes records sealed in the loop's scratch.
func (t *tlsConn) writeRecord(out []byte, err error) {
	if err != nil { // a sequence number exhausted: cannot happen
		t.loop.srv.log.connWarn("TLS seal", &t.Conn, slog.String("err", err.Error()))
		t.end()
		t.closeNow()
		return
	}
	t.send(out)
}

// send writes records (or a handshake flight) to the socket: straight with
// a system call when nothing is queued for it (Conn.sendDirect), the rest
// through gnet.
func (t *tlsConn) send(b []byte) {
	l := t.loop
	l.tls.one[0] = b
	if rest := t.sendDirect(l.tls.one[:]); len(rest) != 0 { // rest aliases one
		_, _ = t.gc.Writev(rest)
	}
	l.tls.one[0] = nil
}

// recordError ends a connection whose records Open refused: the peer's
// close_notify is answered with ours, a local error with its alert.
func (t *tlsConn) recordError(err error) gnet.Action {
	c := &t.Conn
	s := c.loop.srv
	if err == io.EOF {
		s.tls.alert(tlsrec.AlertCloseNotify, true)
		t.closeNotify()
		return gnet.Close
	}
	var ae *tlsrec.AlertError
	if errors.As(err, &ae) {
		s.tls.alert(ae.Alert, ae.Remote)
		if !ae.Remote && c.state != stateClosed {
			t.flushPending()
			t.writeRecord(t.rec.AppendAlert(c.loop.tls.buf(), ae.Alert))
		}
	}
	s.log.connDebug("TLS record error", c, slog.String("err", err.Error()))
	t.end()
	return gnet.Close
}

// closeNotify sends close_notify after the frames pending for the
// connection, once; then nothing more is written. (A connection the engine
// is closing, an HTTP route's answered one, still gets it: stateClosed
// without tlsOver means gnet has not closed it yet.)
func (t *tlsConn) closeNotify() {
	c := &t.Conn
	if t.phase != tls13 && t.phase != tls12 {
		return
	}
	t.flushPending()
	c.loop.srv.tls.alert(tlsrec.AlertCloseNotify, false)
	if t.phase == tls12 {
		t.send(t.x.hs.CloseNotify())
	} else {
		t.writeRecord(t.rec.AppendAlert(c.loop.tls.buf(), tlsrec.AlertCloseNotify))
	}
	t.end()
}

// flushPending writes the frames queued for the connection in this event,
// ahead of a record that must follow them.
func (t *tlsConn) flushPending() {
	if t.pendHead != 0 {
		t.loop.flushConn(&t.Conn)
	}
}

func (t *tlsConn) countKeyUpdates(n int) {
	if n > 0 {
		t.loop.srv.tls.st.kuIn.Add(int64(n))
	}
}

// tlsHeld is what the connection's TLS state holds (memory.go), and notes
// the AEADs charged.
func (c *Conn) tlsHeld() int {
	t := tlsOf(c)
	aead := t.rec.HeldAEAD()
	t.aeadHeld = uint16(aead)
	n := aead
	if x := t.x; x != nil {
		n += cap(x.pt)
		switch t.phase {
		case tlsHandshake:
			n += tlsrec.HandshakeHeld + x.hs.Buffered()
		case tls12:
			n += x.hs.Held12()
		}
	}
	return n
}

// tlsSweep is the timer sweep's TLS part, before its own: a handshake not
// over within HandshakeTimeout is counted and aborted (the sweep then
// closes the connection), and the AEADs of connections idle since the
// previous sweep are dropped.
func (c *Conn) tlsSweep(now int64) {
	t := tlsOf(c)
	switch t.phase {
	case tlsHello, tlsHandshake:
		if c.state == stateHandshake && now-c.t0 > int64(c.loop.srv.cfg.HandshakeTimeout) {
			c.loop.srv.tls.count(TLSTimeout)
			t.end()
		}
	case tls13:
		if t.rec.Idle() {
			c.account()
		}
	}
}

// tlsClosed is OnClose's TLS part: a handshake in flight is aborted (its
// worker is free at once) and counted, the keys wiped.
func (c *Conn) tlsClosed() {
	t := tlsOf(c)
	switch t.phase {
	case tlsHello:
		c.loop.srv.tls.count(TLSClosed)
	case tlsHandshake:
		// Its worker stops at once; its end is counted when it arrives.
		t.x.hs.Abort()
		t.phase = tlsGone
		return
	}
	t.end()
}
