package engine

import (
	"log/slog"
	"net"
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
	stateOpen                       // WebSocket open
	stateClosing                    // close frame sent, waiting for the peer's close
	stateClosed                     // TCP closed or closing; writes are dropped
)

// Conn is one WebSocket connection. Its state lives on its event loop.
// Methods marked "loop only" may be called only from the Handler callbacks of
// this connection or from a Task running on its Loop; the others are safe
// from any goroutine.
type Conn struct {
	gc    gnet.Conn
	loop  *Loop
	h     Handler
	req   Request
	proto string
	value any
	id    uint64

	dec codec.Decoder

	state     connState
	opened    bool // upgraded: OnClose is owed and admit's slots are held
	ipHeld    bool // holds a MaxConnsPerIP slot
	closeTCP  bool // close the TCP connection at the end of the current read
	code      codec.StatusCode
	reason    string
	idx       int32 // position in loop.conns, -1 once removed
	pendHead  int32 // 1-based index into loop.pend, 0 when nothing is pending
	pendTail  int32
	pendBytes int32 // bytes pending; bounded by the arena and MaxOutboundBytes checks

	created  int64 // nanoseconds
	lastRead int64
	lastPing int64
	deadline int64 // stateClosing: when to give up on the peer's close

	pingPeriod time.Duration
	timeout    time.Duration
}

// ID is unique among the connections of a Server.
func (c *Conn) ID() uint64 { return c.id }

// Request is the upgrade request, with its path, query and headers.
func (c *Conn) Request() *Request { return &c.req }

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.req.RemoteAddr }

// Protocol is the negotiated subprotocol, or "".
func (c *Conn) Protocol() string { return c.proto }

// Loop is the event loop that owns the connection.
func (c *Conn) Loop() *Loop { return c.loop }

// Value and SetValue hold the handler's per-connection state. Loop only.
func (c *Conn) Value() any      { return c.value }
func (c *Conn) SetValue(v any)  { c.value = v }
func (c *Conn) Open() bool      { return c.state == stateOpen } // loop only
func (c *Conn) Server() *Server { return c.loop.srv }
func (c *Conn) String() string  { return c.req.RemoteAddr.String() + c.req.Path }

// SetPingPeriod overrides the server's PingPeriod for this connection; zero
// disables pings. Loop only.
func (c *Conn) SetPingPeriod(d time.Duration) { c.pingPeriod = d }

// SetTimeout overrides the server's Timeout for this connection; a negative
// value disables it. Loop only.
func (c *Conn) SetTimeout(d time.Duration) { c.timeout = d }

// SetMaxFrameSize and SetMaxMessageSize override the server's limits for
// this connection. Loop only.
func (c *Conn) SetMaxFrameSize(n int64)   { c.dec.MaxFrameSize = n }
func (c *Conn) SetMaxMessageSize(n int64) { c.dec.MaxMessageSize = n }

// Send queues a text or binary message (or a ping/pong) as one frame. The
// payload is copied, so the caller may reuse it when Send returns. The frame
// is written at the end of the current event together with the connection's
// other frames. Loop only.
func (c *Conn) Send(op codec.OpCode, payload []byte) error {
	if c.state != stateOpen {
		return ErrConnClosed
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
			l.flush()
			l.counters.nFramesOut++
			l.counters.nBytesOut += int64(len(frame))
			c.writev([][]byte{frame})
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
	// Larger than the arena: keep order by flushing what is pending, then
	// let gnet copy whatever the socket does not take at once.
	l.flush()
	var hdr [14]byte
	h := codec.AppendHeader(hdr[:0], true, op, len(payload), nil)
	l.counters.nFramesOut++
	l.counters.nBytesOut += int64(len(h) + len(payload))
	c.writev([][]byte{h, payload})
}

// enqueue adds a frame to the pending output, unless the connection is a
// slow consumer, which is closed instead.
func (c *Conn) enqueue(b []byte) {
	if c.gc.OutboundBuffered()+int(c.pendBytes)+len(b) > c.loop.srv.cfg.MaxOutboundBytes {
		c.slowConsumer()
		return
	}
	c.loop.enqueue(c, b)
}

func (c *Conn) writev(iov [][]byte) {
	if c.state == stateClosed {
		return
	}
	_, _ = c.gc.Writev(iov)
	if c.state != stateClosed && c.gc.OutboundBuffered() > c.loop.srv.cfg.MaxOutboundBytes {
		c.slowConsumer()
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
		c.code, c.reason = codec.StatusPolicyViolation, "slow consumer"
	}
	c.closeNow()
}

// startClose sends a close frame and waits for the peer's.
func (c *Conn) startClose(code codec.StatusCode, reason string) {
	c.code, c.reason = code, reason
	c.state = stateClosing
	c.deadline = c.loop.now + int64(c.loop.srv.cfg.CloseTimeout)
	c.dec.StartDrain()
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
	_ = c.gc.Close()
}

// fireClose calls the handler's OnClose once.
func (c *Conn) fireClose() {
	if !c.opened {
		return
	}
	c.opened = false
	code := c.code
	if code == 0 {
		code = statusAbnormalClosure
	}
	c.releaseSlots()
	c.loop.srv.stats.closes[closeBucket(uint16(code))].Add(1)
	c.loop.srv.log.connDebug("close", c, slog.Int("code", int(code)), slog.String("reason", c.reason))
	c.h.OnClose(c, code, c.reason)
}
