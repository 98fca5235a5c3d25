package engine

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"syscall"

	"edgews/codec"
	"edgews/codec/tlsrec"
	"github.com/panjf2000/gnet/v2"
)

// InProc runs Handlers without sockets, for tests and benchmarks of code
// built on the engine (as net/http/httptest does for handlers). Its loops run
// posted tasks only when Drain is called, and its connections record what is
// written to them. An InProc is used from one goroutine.
type InProc struct {
	srv   *Server
	loops []*Loop
	els   []*inprocLoop
	addr  uint32
}

// NewInProc returns a harness for cfg with n event loops.
func NewInProc(cfg Config, n int) *InProc {
	p := &InProc{srv: New(cfg)}
	for i := 0; i < n; i++ {
		el := &inprocLoop{}
		p.els = append(p.els, el)
		p.loops = append(p.loops, p.srv.loopOf(el))
	}
	return p
}

// Server is the harness's Server: register routes on it before Open.
func (p *InProc) Server() *Server { return p.srv }

// Loop returns loop i.
func (p *InProc) Loop(i int) *Loop { return p.loops[i] }

// Open connects a client to the WebSocket route of target ("/chat?name=x")
// on loop i, as if its upgrade request had just been accepted, and runs
// OnOpen. header lines ("Name: value") are added to the request. With
// capture, the frames written to the connection are kept for Received;
// without, they are only counted.
func (p *InProc) Open(target string, i int, capture bool, header ...string) (*Conn, error) {
	p.addr++
	pc := &pipeConn{el: p.els[i], capture: capture, dec: codec.Decoder{Role: codec.RoleClient},
		remote: &net.TCPAddr{IP: net.IPv4(127, 0, byte(p.addr>>8), byte(p.addr)), Port: 40000}}
	pc.dec.MaxFrameSize, pc.dec.MaxMessageSize = 1<<40, 1<<40
	p.srv.OnOpen(pc)
	c := pc.ctx.(*Conn)
	req := "GET " + target + " HTTP/1.1\r\nHost: inproc\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	for _, h := range header {
		req += h + "\r\n"
	}
	pc.in = append(pc.in, req+"\r\n"...)
	if c.isTLS() {
		p.openTLS(pc, c) // as if its handshake had just ended (inproc_tls.go)
	}
	p.srv.OnTraffic(pc)
	if c.state != stateOpen {
		return nil, fmt.Errorf("engine: inproc open %s: %s", target, pc.out)
	}
	return c, nil
}

// Message delivers a message from c's client, as a read of one frame would,
// and runs the writes it causes on c's loop (not the tasks it posts: Drain).
func (p *InProc) Message(c *Conn, op codec.OpCode, payload []byte) {
	l := c.loop
	l.begin()
	c.lastRead = l.now
	if c.state == stateOpen {
		c.rt.h.OnMessage(c, op, payload)
	}
	l.flush()
	l.end()
}

// Disconnect ends c's TCP connection abruptly, as a vanished client would.
func (p *InProc) Disconnect(c *Conn) {
	p.srv.OnClose(c.gc, nil)
}

// Sweep runs one timer sweep on every loop, as the ticker does (the
// engine's deadlines, then the HandleSweep functions), and drains what it
// posted.
func (p *InProc) Sweep() {
	for _, l := range p.loops {
		l.postSweep()
	}
	p.Drain()
}

// Drain runs the tasks posted to every loop until none are left.
func (p *InProc) Drain() {
	for more := true; more; {
		more = false
		for _, el := range p.els {
			for len(el.queue) > 0 {
				more = true
				q := el.queue
				el.queue = el.spare[:0]
				for i, r := range q {
					_ = r.Run(context.Background())
					q[i] = nil
				}
				el.spare = q[:0]
			}
		}
	}
}

// Received returns and forgets the messages written to c (with capture).
func (p *InProc) Received(c *Conn) []string {
	pc := c.gc.(*pipeConn)
	m := pc.msgs
	pc.msgs = nil
	return m
}

// CompressedReceived is the number of messages written to c compressed
// (RSV1 set), with capture; Received returns them inflated.
func (p *InProc) CompressedReceived(c *Conn) int { return c.gc.(*pipeConn).compressed }

// Written is the number of bytes written to c so far.
func (p *InProc) Written(c *Conn) int64 { return c.gc.(*pipeConn).written }

// Stall makes c's client stop reading (stalled) or read again: while it
// does not, what is written to c stays queued in its outbound buffer, and
// is dropped when it reads again.
func (p *InProc) Stall(c *Conn, stalled bool) {
	pc := c.gc.(*pipeConn)
	pc.stalled = stalled
	if !stalled {
		pc.queued = 0
	}
}

// Reset makes c's peer reset the connection (a TCP RST) without the loop
// having read it yet: the next write that reaches c's socket fails, and
// the connection is closed inside that write (the server's OnClose runs
// before the write returns), as gnet v2 does for any write error but
// EAGAIN.
func (p *InProc) Reset(c *Conn) {
	pc := c.gc.(*pipeConn)
	pc.reset = p.srv
}

// Closed reports whether the server closed c's TCP connection.
func (p *InProc) Closed(c *Conn) bool { return c.gc.(*pipeConn).closed }

// inprocLoop is a gnet.EventLoop whose Execute queues for Drain.
type inprocLoop struct {
	gnet.EventLoop // nil: any other method panics
	queue, spare   []gnet.Runnable
}

func (el *inprocLoop) Execute(_ context.Context, r gnet.Runnable) error {
	el.queue = append(el.queue, r)
	return nil
}

// pipeConn is a gnet.Conn with no socket: it reads from in and records writes.
type pipeConn struct {
	gnet.Conn  // nil: any other method panics
	el         *inprocLoop
	ctx        any
	remote     net.Addr
	in         []byte
	out        []byte
	written    int64
	capture    bool
	dec        codec.Decoder
	inf        codec.Inflater
	compressed int
	msgs       []string
	closed     bool
	stalled    bool // the peer does not read: writes stay in queued
	queued     int
	reset      *Server      // non-nil: the peer reset; the next socket write fails and closes (InProc.Reset)
	rec        *tlsrec.Conn // a TLS server's: the client's record layer
	raw        []byte       // records written, not yet opened (capture)
}

func (pc *pipeConn) Context() any              { return pc.ctx }
func (pc *pipeConn) SetContext(v any)          { pc.ctx = v }
func (pc *pipeConn) RemoteAddr() net.Addr      { return pc.remote }
func (pc *pipeConn) EventLoop() gnet.EventLoop { return pc.el }
func (pc *pipeConn) OutboundBuffered() int     { return pc.queued }
func (pc *pipeConn) Fd() int                   { return -1 } // no socket: writes go through Writev
func (pc *pipeConn) InboundBuffered() int      { return len(pc.in) }
func (pc *pipeConn) Peek(int) ([]byte, error)  { return pc.in, nil }

func (pc *pipeConn) Discard(n int) (int, error) {
	if n < 0 || n > len(pc.in) {
		n = len(pc.in)
	}
	pc.in = pc.in[n:]
	return n, nil
}

func (pc *pipeConn) Close() error { pc.closed = true; return nil }

func (pc *pipeConn) Write(b []byte) (int, error) { return pc.Writev([][]byte{b}) }

func (pc *pipeConn) Writev(bs [][]byte) (int, error) {
	if pc.rec != nil && pc.capture && !pc.stalled && pc.queued == 0 && pc.reset == nil {
		return pc.writeTLS(bs)
	}
	if pc.stalled || pc.queued > 0 {
		for _, b := range bs {
			pc.queued += len(b)
		}
		return 0, nil
	}
	if srv := pc.reset; srv != nil { // gnet's conn.write: close inside the write
		pc.closed = true
		srv.OnClose(pc, syscall.ECONNRESET)
		return 0, syscall.ECONNRESET
	}
	n := 0
	for _, b := range bs {
		n += len(b)
		if pc.capture {
			pc.out = append(pc.out, b...)
		}
	}
	pc.written += int64(n)
	if pc.capture {
		pc.parse()
	}
	return n, nil
}

// parse decodes the complete frames written so far (after the 101 response).
func (pc *pipeConn) parse() {
	if end := headerEnd(pc.out); end > 0 && len(pc.out) > 12 && string(pc.out[:12]) == "HTTP/1.1 101" {
		pc.dec.Deflate = bytes.Contains(pc.out[:end], []byte("\r\nSec-WebSocket-Extensions: permessage-deflate"))
		pc.out = pc.out[end:]
	}
	off := 0
	for {
		ev, n, err := pc.dec.Next(pc.out[off:])
		off += n
		if err != nil || (n == 0 && ev.Kind == codec.KindNone) {
			break
		}
		switch ev.Kind {
		case codec.KindMessage:
			if ev.Compressed {
				pc.compressed++
				if ev.Payload, err = pc.inf.Inflate(ev.Payload, ev.Op == codec.OpText, 1<<40); err != nil {
					pc.msgs = append(pc.msgs, "inflate: "+err.Error())
					continue
				}
			}
			pc.msgs = append(pc.msgs, string(ev.Payload))
		case codec.KindClose:
			pc.msgs = append(pc.msgs, fmt.Sprintf("close %d %s", ev.Code, ev.Reason))
		}
	}
	pc.out = append(pc.out[:0], pc.out[off:]...)
}
