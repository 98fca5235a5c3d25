package engine

import (
	"edgews/codec"
)

// loopFlate is an event loop's permessage-deflate state, shared by all its
// connections: server_no_context_takeover and client_no_context_takeover
// (which the server always negotiates) mean no flate state survives between
// two messages, so one inflater and one deflater serve every connection in
// turn, and a connection that negotiated compression holds none (a flate
// writer is about 300 KiB, a reader about 40 KiB).
type loopFlate struct {
	inf  codec.Inflater
	def  *codec.Deflater // created on first use
	zbuf []byte          // Send's compressed frame, until it is queued
	held int64           // inf's and zbuf's capacity as last charged (accountFlate)
}

// accountFlate charges the buffers the loop keeps for permessage-deflate
// between events (the inflater's input and output, up to 64 KiB each, and
// Send's compressed frame) to the node's held bytes (memory.go). They are
// the loop's, not a connection's: they go in size class 0, which an
// eviction round never picks (planEviction stops at class 1), so they
// count against Config.MemoryBudget without making a connection look big.
// A compressed message still arriving is charged to its connection like a
// plain one (its fragments sit in the decoder's buffer, Decoder.BufCap);
// the output of an inflate larger than 64 KiB lives only within the event
// that inflates it, bounded by MaxMessageSize. Loop only.
func (l *Loop) accountFlate() {
	n := int64(l.flate.inf.Held() + cap(l.flate.zbuf))
	if n == l.flate.held {
		return
	}
	m := &l.mem
	m.byClass[0] += n - l.flate.held
	m.delta += n - l.flate.held
	m.dirty |= 1
	l.flate.held = n
}

// keepZbufCap is the largest compressed-frame scratch buffer a loop keeps.
const keepZbufCap = 64 << 10

// Deflater is the loop's shared deflater, at the server's CompressionLevel.
// Use it only on the loop, and do not keep its output past the current
// event unless it was appended to a buffer of your own. Loop only.
func (l *Loop) Deflater() *codec.Deflater {
	if l.flate.def == nil {
		l.flate.def = codec.NewDeflater(l.srv.cfg.CompressionLevel)
	}
	return l.flate.def
}

// Compressed reports whether permessage-deflate was negotiated on c.
func (c *Conn) Compressed() bool { return c.zbits != 0 }

// CompressSize reports whether a message of n payload bytes is sent to c
// compressed: compression was negotiated, n is at least the server's
// CompressionThreshold, and n is within the window the client allowed the
// server (server_max_window_bits; see codec.Deflate.WindowBits). Code that
// encodes a frame for c itself (the hub's shared broadcasts) asks this to
// pick the compressed or the plain encoding.
func (c *Conn) CompressSize(n int) bool {
	// A window of 0 is no extension at all, not a limit that an empty
	// payload fits: RSV1 to a peer that did not negotiate it is a protocol
	// error there (with a threshold of 0, every empty message was one).
	w := c.DeflateWindow()
	return w != 0 && n <= w && n >= c.loop.srv.cfg.CompressionThreshold
}

// DeflateWindow is the largest message c may be sent compressed (the
// window the client allowed the server, see codec.Deflate.WindowBits), or
// 0 when c did not negotiate permessage-deflate. A fan-out that has
// already applied the threshold checks only this, per recipient.
func (c *Conn) DeflateWindow() int {
	if c.zbits == 0 {
		return 0
	}
	return 1 << c.zbits
}

// negotiateDeflate answers the client's permessage-deflate offers, when the
// server has compression on.
func (c *Conn) negotiateDeflate(req Request) codec.Deflate {
	if !c.loop.srv.cfg.Compression {
		return codec.Deflate{}
	}
	return codec.NegotiateDeflate(req.headerValues("Sec-WebSocket-Extensions"))
}

// setDeflate records the negotiation's outcome on c: the decoder then
// accepts RSV1, and Send compresses. Only the window size is kept (in
// padding: the connection grows by no byte).
func (c *Conn) setDeflate(d codec.Deflate) {
	if d.Accepted() {
		c.zbits = d.WindowBits
		if d := c.curDecoder(); d != nil {
			d.Deflate = true
		}
		c.loop.srv.stats.deflateConns.Add(1)
		c.loop.srv.stats.deflateOpen.Add(1)
	}
}

// CompressedConns is the number of open connections that negotiated
// permessage-deflate: code that shares encoded frames among connections
// compresses a twin only when it is not zero. Safe from any goroutine.
func (s *Server) CompressedConns() int64 { return s.stats.deflateOpen.Load() }

// inflate replaces a compressed message's payload with its inflated form
// in ev. On failure (1009 over MaxMessageSize, 1002 not deflate, 1007 bad
// UTF-8) it starts the close handshake and reports false.
func (c *Conn) inflate(ev *codec.Event) bool {
	limit := c.decLimits().message
	if limit <= 0 {
		limit = codec.DefaultMaxMessageSize
	}
	p, err := c.loop.flate.inf.Inflate(ev.Payload, ev.Op == codec.OpText, limit)
	c.loop.accountFlate()
	if err != nil {
		c.loop.srv.stats.inflateErrors.Add(1)
		c.startClose(codec.CloseCode(err), err.Error())
		return false
	}
	ev.Payload = p
	return true
}

// sendCompressed queues payload compressed as one frame with RSV1 set.
func (c *Conn) sendCompressed(op codec.OpCode, payload []byte) {
	l := c.loop
	l.flate.zbuf = l.Deflater().AppendCompressedFrame(l.flate.zbuf[:0], op, payload)
	frame := l.flate.zbuf
	if b := l.reserve(len(frame)); b != nil {
		copy(b, frame)
		c.enqueue(b)
	} else {
		c.writeNow(len(frame), [][]byte{frame})
	}
	if cap(l.flate.zbuf) > keepZbufCap {
		l.flate.zbuf = nil
	}
	l.accountFlate()
}
