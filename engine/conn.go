package engine

import (
	"log/slog"
	"net/netip"
	"time"

	"edgews/codec"
	"github.com/panjf2000/gnet/v2"
)

// statusAbnormalClosure (1006) is reported to OnClose when TCP ended without
// a close handshake; it is never sent on the wire.
const statusAbnormalClosure codec.StatusCode = 1006

type connState uint8

const (
	stateHandshake connState = iota // reading the HTTP upgrade request
	stateUpgrading                  // the request read; an Upgrader decides off the loop (upgradeJob)
	stateOpen                       // WebSocket open
	stateClosing                    // close frame sent, waiting for the peer's close
	stateClosed                     // TCP closed or closing; writes are dropped
)

// Conn is one WebSocket connection. Its state lives on its event loop.
// Methods marked "loop only" may be called only from the Handler callbacks of
// this connection or from a Task running on its Loop; the others are safe
// from any goroutine.
//
// Layout. A Conn lives as long as its connection, and an idle node is
// mostly Conns, so its size is guarded by TestConnSize: 144 bytes on 64-bit
// platforms, exactly the runtime's 144-byte size class, where nothing
// else the node allocates per connection lands (the 128-byte class holds
// each accept's net.netFD garbage, 160 its parsed request: sharing a class
// with garbage leaves its spans part-empty once that is collected, see
// peerAddr).
// Fields are grouped by when they are used, then by size, so that there is
// no padding. What is needed only while the upgrade is answered lives on the
// loop (Loop.hsConn), what few connections need (query, kept headers,
// close reason, overridden timers) in connMore, allocated on first need,
// and a Decoder only while a connection has decoder state between reads
// (decode.go).
// To add state: no byte is free after lim; anything more moves the Conn
// to the 160-byte class. On a TLS server a Conn is the first field of a
// tlsConn (tlsconn.go), which holds the connection's TLS state in the same
// allocation: a plain connection pays nothing for TLS (its loop says which
// kind its connections are, Conn.isTLS).
type Conn struct {
	// Used on every read and write.
	gc    gnet.Conn
	loop  *Loop
	rt    *route         // the connection's route: handler, path, subprotocols
	value any            // the handler's state (SetValue)
	dec   *codec.Decoder // nil while idle: see decode.go

	pendHead  int32 // 1-based index into loop.pend, 0 when nothing is pending
	pendTail  int32
	pendBytes int32 // bytes pending; bounded by the arena and MaxOutboundBytes checks
	idx       int32 // position in loop.conns, -1 once removed

	// Timer state, in nanoseconds of the loop's clock, read by the sweep.
	lastRead int64
	lastPing int64
	t0       int64 // stateHandshake: when accepted; stateOpen: when the partial frame or message times out (0: none, see afterRead); stateClosing: when to give up on the peer's close

	id   uint64
	more *connMore // nil until needed
	addr peerAddr  // the peer (RemoteAddr)

	state    connState
	opened   bool             // upgraded: OnClose is owed and admit's slots are held
	ipHeld   bool             // holds a MaxConnsPerIP slot
	closeTCP bool             // close the TCP connection at the end of the current read
	proto    uint8            // 1 + index of the negotiated subprotocol in rt.protos; 0: none
	zbits    uint8            // permessage-deflate: the server's max window bits (8-15); 0: not negotiated (deflate.go)
	held     heldSize         // bytes charged to the connection, see memory.go
	code     codec.StatusCode // the close code sent or received; 0 while open
	big      uint16           // the oversized frame the peer is reading, in bigUnits: see allowBig
	lim      uint8            // the Decoder's limits: an index into the loop's table, or limOwn (decode.go)
}

// connMore is the per-connection state that most connections never need,
// kept out of Conn so that an idle connection does not pay for it. It is
// allocated by the first of: a non-empty query or kept header at the
// upgrade, SetPingPeriod or SetTimeout, a close with a reason. Loop only.
type connMore struct {
	query  string // the upgrade request's RawQuery
	header string // the header lines Config.KeepHeaders kept
	reason string // the close reason sent or received
	zone   string // the peer's IPv6 zone (a link-local peer), see peerAddr

	pingPeriod time.Duration // with pingSet, overrides Config.PingPeriod
	timeout    time.Duration // with timeoutSet, overrides Config.Timeout
	pingSet    bool
	timeoutSet bool
}

// peerAddr is a peer's address in 18 bytes with no pointer, where a
// netip.AddrPort takes 32. Its 14 bytes moved Conn from the 224-byte size
// class to the 208-byte one, which matters beyond the bytes: a clustered
// node's registry calls make short-lived 224-byte objects (nats.go's
// publish options) while connections arrive, and the connections' Conns
// then shared spans with that garbage, held part-empty once it was
// collected (docs/deploy.md, Memory policy). An IPv6 zone, which only a
// link-local peer has, is kept in connMore.
type peerAddr struct {
	ip   [16]byte // IPv4 as v4-mapped IPv6; all zero with port 0: none
	port uint16
}

func makePeerAddr(ap netip.AddrPort) peerAddr {
	if !ap.IsValid() {
		return peerAddr{}
	}
	return peerAddr{ip: ap.Addr().As16(), port: ap.Port()}
}

// addrPort is the address without its zone.
func (p *peerAddr) addrPort() netip.AddrPort {
	if *p == (peerAddr{}) {
		return netip.AddrPort{} // a peer is never [::]:0
	}
	return netip.AddrPortFrom(netip.AddrFrom16(p.ip).Unmap(), p.port)
}

// moreState returns c.more, allocating it if needed.
func (c *Conn) moreState() *connMore {
	if c.more == nil {
		c.more = new(connMore)
	}
	return c.more
}

// reason is the close reason sent or received, or "".
func (c *Conn) reason() string {
	if c.more == nil {
		return ""
	}
	return c.more.reason
}

// setClose records the close code and reason.
func (c *Conn) setClose(code codec.StatusCode, reason string) {
	c.code = code
	if reason != "" || c.more != nil {
		c.moreState().reason = reason
	}
}

// ID is unique among the connections of a Server.
func (c *Conn) ID() uint64 { return c.id }

// Request is the upgrade request: method, path, query, the peer's address
// and the headers (all of them until OnOpen returns, then those named in
// Config.KeepHeaders). Loop only.
func (c *Conn) Request() Request {
	if l := c.loop; l.hsConn == c {
		return l.hsReq
	}
	r := Request{Method: "GET", RemoteAddr: c.RemoteAddr()}
	if c.rt != nil {
		r.Path = c.rt.path
	}
	if c.more != nil {
		r.RawQuery, r.header = c.more.query, c.more.header
	}
	return r
}

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() netip.AddrPort {
	ap := c.addr.addrPort()
	if c.more != nil && c.more.zone != "" {
		ap = netip.AddrPortFrom(ap.Addr().WithZone(c.more.zone), ap.Port())
	}
	return ap
}

// Protocol is the negotiated subprotocol, or "".
func (c *Conn) Protocol() string {
	if c.proto == 0 {
		return ""
	}
	return c.rt.protos[c.proto-1]
}

// Loop is the event loop that owns the connection.
func (c *Conn) Loop() *Loop { return c.loop }

// Value and SetValue hold the handler's per-connection state. Loop only.
func (c *Conn) Value() any      { return c.value }
func (c *Conn) SetValue(v any)  { c.value = v }
func (c *Conn) Open() bool      { return c.state == stateOpen } // loop only
func (c *Conn) Server() *Server { return c.loop.srv }

// String is the peer's address and the route's path, for logs.
func (c *Conn) String() string {
	s := c.RemoteAddr().String()
	if c.rt != nil {
		s += c.rt.path
	}
	return s
}

// SetPingPeriod overrides the server's PingPeriod for this connection; zero
// disables pings. Loop only.
func (c *Conn) SetPingPeriod(d time.Duration) {
	m := c.moreState()
	m.pingPeriod, m.pingSet = d, true
}

// SetTimeout overrides the server's Timeout for this connection; a negative
// value disables it. Loop only.
func (c *Conn) SetTimeout(d time.Duration) {
	m := c.moreState()
	m.timeout, m.timeoutSet = d, true
}

// timers returns the connection's ping period and timeout: the server's,
// unless overridden.
func (c *Conn) timers(ping, timeout time.Duration) (time.Duration, time.Duration) {
	if m := c.more; m != nil {
		if m.pingSet {
			ping = m.pingPeriod
		}
		if m.timeoutSet {
			timeout = m.timeout
		}
	}
	return ping, timeout
}

// SetMaxFrameSize and SetMaxMessageSize override the server's limits for
// this connection. Loop only.
func (c *Conn) SetMaxFrameSize(n int64) {
	lim := c.decLimits()
	lim.frame = n
	c.setLimits(lim)
}

func (c *Conn) SetMaxMessageSize(n int64) {
	lim := c.decLimits()
	lim.message = n
	c.setLimits(lim)
}

// Send queues a text or binary message (or a ping/pong) as one frame,
// compressed when c negotiated permessage-deflate and the payload is at
// least the server's CompressionThreshold (see CompressSize). The payload
// is copied, so the caller may reuse it when Send returns. The frame
// is written at the end of the current event together with the connection's
// other frames. Loop only.
func (c *Conn) Send(op codec.OpCode, payload []byte) error {
	if c.state != stateOpen {
		return ErrConnClosed
	}
	if (op == codec.OpText || op == codec.OpBinary) && c.CompressSize(len(payload)) {
		c.sendCompressed(op, payload)
		return nil
	}
	c.sendFrame(op, payload)
	return nil
}

// WriteShared queues an already encoded frame without copying it. Inside
// Task.Run, frame must stay valid until that task's Done; anywhere else it is
// copied like Send's. This is how the hub shares one encoded broadcast among
// all recipients. Loop only.
func (c *Conn) WriteShared(frame []byte) error {
	if c.state != stateOpen {
		return ErrConnClosed
	}
	l := c.loop
	if !l.inTask {
		if b := l.reserve(len(frame)); b != nil {
			copy(b, frame)
			frame = b
		} else {
			c.writeNow(len(frame), [][]byte{frame})
			return nil
		}
	}
	c.enqueue(frame)
	return nil
}

// Close starts the close handshake with code and reason: the close frame is
// sent, later frames from the peer are ignored until its close frame arrives
// (then TCP is closed), or until the server's CloseTimeout. Loop only.
func (c *Conn) Close(code codec.StatusCode, reason string) {
	if c.state != stateOpen {
		return
	}
	c.startClose(code, reason)
}

func (c *Conn) sendFrame(op codec.OpCode, payload []byte) {
	l := c.loop
	n := codec.HeaderLen(len(payload), false) + len(payload)
	if b := l.reserve(n); b != nil {
		c.enqueue(codec.AppendFrame(b[:0], true, op, payload, nil))
		return
	}
	var hdr [14]byte
	c.writeNow(n, [][]byte{codec.AppendHeader(hdr[:0], true, op, len(payload), nil), payload})
}

// writeNow writes a frame of n bytes (in iov) larger than the arena: it
// keeps order by flushing what is pending, then lets gnet copy whatever
// the socket does not take at once. Loop only.
func (c *Conn) writeNow(n int, iov [][]byte) {
	l := c.loop
	l.flush()
	l.counters.nFramesOut++
	l.counters.nBytesOut += int64(n)
	c.allowBig(c.gc.OutboundBuffered(), n)
	c.writev(iov)
}

// enqueue adds a frame to the pending output, unless the connection is a
// slow consumer, which is closed instead.
func (c *Conn) enqueue(b []byte) {
	if c.gc.OutboundBuffered()+int(c.pendBytes)+len(b) > c.outLimit() {
		// Frames queued in this event are not the peer's fault: hand them
		// to the socket first, and judge by what it did not take.
		if c.pendBytes > 0 {
			c.loop.flushConn(c)
		}
		if c.state == stateClosed {
			c.slowConsumer()
			return
		}
		out := c.gc.OutboundBuffered()
		c.settleBig(out)
		if out+len(b) > c.outLimit() && !c.allowBig(out, len(b)) {
			c.slowConsumer()
			return
		}
	}
	c.loop.enqueue(c, b)
}

// bigUnit is the unit of Conn.big: 4 KiB, so that it counts frames up to
// 256 MiB (larger ones count as that).
const bigUnit = 4 << 10

// outLimit is the bytes c may have queued before it is a slow consumer:
// MaxOutboundBytes, plus the oversized frame it is reading, if any.
func (c *Conn) outLimit() int {
	return c.loop.srv.cfg.MaxOutboundBytes + int(c.big)*bigUnit
}

// allowBig admits a frame of n bytes, more than half of MaxOutboundBytes
// (or more than all of it), to a peer that has at most half of it unread
// (out bytes): a single large frame to a peer that reads is not what makes
// it slow. The frame's size is added to c's limit until the peer has read
// it down to half the limit again (settleBig), so that the frames after it
// are judged by what the peer leaves unread beyond that frame: the bound
// is MaxOutboundBytes plus one frame, however large the node lets frames
// be. A peer with more than half the limit unread is judged as before.
func (c *Conn) allowBig(out, n int) bool {
	half := c.loop.srv.cfg.MaxOutboundBytes / 2
	if n <= half || out > half {
		return false
	}
	c.big = uint16(min((n+bigUnit-1)/bigUnit, 1<<16-1))
	return true
}

// settleBig drops the allowance of an oversized frame once the peer has
// read it (out, its unread bytes, is at most half the limit).
func (c *Conn) settleBig(out int) {
	if c.big != 0 && out <= c.loop.srv.cfg.MaxOutboundBytes/2 {
		c.big = 0
	}
}

func (c *Conn) writev(iov [][]byte) {
	if c.state == stateClosed {
		return
	}
	out := 0
	if c.isTLS() {
		c.tlsWritev(iov) // sealed, then written as below
		if c.state == stateClosed {
			return
		}
		out = c.gc.OutboundBuffered()
	} else if iov = c.sendDirect(iov); len(iov) != 0 {
		_, _ = c.gc.Writev(iov)
		if c.state == stateClosed {
			return
		}
		out = c.gc.OutboundBuffered()
	}
	if out > c.outLimit() {
		c.slowConsumer()
		return
	}
	c.settleBig(out)
	// Charge what the peer did not take; the common case (it took
	// everything, and nothing was held before) costs this one compare.
	if out != 0 || c.held != 0 {
		c.account()
	}
}

// slowConsumer drops a connection whose peer does not read: its queued
// output is abandoned (so its memory is released) and TCP is closed.
func (c *Conn) slowConsumer() {
	if c.state == stateClosed {
		return
	}
	c.loop.srv.stats.slowConsumers.Add(1)
	c.loop.srv.log.connWarn("slow consumer closed", c, slog.Int("queued", c.gc.OutboundBuffered()+int(c.pendBytes)))
	if c.code == 0 {
		c.setClose(codec.StatusPolicyViolation, "slow consumer")
	}
	c.loop.srv.freed.Add(int64(outHeld(c.gc.OutboundBuffered()))) // see release.go
	c.closeNow()
}

// startClose sends a close frame and waits for the peer's.
func (c *Conn) startClose(code codec.StatusCode, reason string) {
	c.setClose(code, reason)
	c.state = stateClosing
	c.t0 = c.loop.now + int64(c.loop.srv.cfg.CloseTimeout)
	c.heldDecoder().StartDrain()
	var buf [128]byte
	c.writeControl(codec.AppendClose(buf[:0], code, reason, nil))
}

// writeControl queues a small control frame, bypassing the slow-consumer
// check so that a close frame is always attempted.
func (c *Conn) writeControl(frame []byte) {
	if b := c.loop.reserve(len(frame)); b != nil {
		copy(b, frame)
		c.loop.enqueue(c, b)
	}
}

// closeNow closes TCP without further handshake. Safe on the loop at any
// point: the close itself is queued to gnet and happens after the current
// event, and writes are dropped from now on.
func (c *Conn) closeNow() {
	if c.state == stateClosed {
		return
	}
	c.state = stateClosed
	c.setHeld(0) // gnet frees the buffers when it closes, after this event
	_ = c.gc.Close()
}

// fireClose calls the handler's OnClose once.
func (c *Conn) fireClose() {
	if !c.opened {
		return
	}
	c.opened = false
	if c.zbits != 0 {
		c.loop.srv.stats.deflateOpen.Add(-1)
	}
	code := c.code
	if code == 0 {
		code = statusAbnormalClosure
	}
	c.releaseSlots()
	c.loop.srv.stats.closes[closeBucket(uint16(code))].Add(1)
	reason := c.reason()
	c.loop.srv.log.connDebug("close", c, slog.Int("code", int(code)), slog.String("reason", reason))
	c.rt.h.OnClose(c, code, reason)
}
