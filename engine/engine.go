package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"edgews/codec"
	"github.com/panjf2000/gnet/v2"
)

// Server is a WebSocket node on gnet. Register routes with Handle and
// HandleHTTP before Run.
type Server struct {
	gnet.BuiltinEventEngine

	cfg    Config
	routes map[string]*route
	http   map[string]HTTPHandler

	ln       net.Listener
	cli      *gnet.Client // gnet's loops, without gnet's listener (see accept.go)
	addr     net.Addr
	ready    chan struct{}
	stopping chan struct{} // closed when the drain is over: Run stops the loops
	stopped  chan struct{} // closed when Run has stopped the loops
	fdMax    int64         // RLIMIT_NOFILE when Run started
	sockets  atomic.Int64  // accepted sockets not yet closed
	runErr   chan error    // Run's result, with Start

	sweepFns []func(*Loop) // HandleSweep's, run at the end of every sweep
	tls      *tlsServer    // Config.TLS's handshakes and counters, or nil (tls.go)
	upgrades *upgradePool  // runs Upgraders off the loops (Config.UpgradeWorkers), or nil

	loopsMu sync.Mutex
	loops   atomic.Pointer[[]*Loop] // copy-on-write, in discovery order
	byEL    map[gnet.EventLoop]*Loop

	nextID    atomic.Uint64
	openConns atomic.Int64

	held     atomic.Int64  // node-wide charge, see memory.go
	evicting atomic.Int32  // loops yet to finish the eviction round in flight
	freed    atomic.Int64  // held by connections the node closed since the last release, see release.go
	release  chan struct{} // wakes the releaser; nil without a MemoryBudget

	draining atomic.Bool
	perIP    perIP
	stats    counters
	log      logger
}

// New returns a Server for cfg (zero fields take their documented defaults).
func New(cfg Config) *Server {
	cfg = cfg.withDefaults()
	var release chan struct{}
	if cfg.MemoryBudget > 0 {
		release = make(chan struct{}, 1)
	}
	return &Server{
		tls:      newTLSServer(cfg),
		release:  release,
		cfg:      cfg,
		log:      newLogger(cfg.Logger),
		routes:   make(map[string]*route),
		http:     make(map[string]HTTPHandler),
		ready:    make(chan struct{}),
		stopping: make(chan struct{}),
		stopped:  make(chan struct{}),
		byEL:     make(map[gnet.EventLoop]*Loop),
	}
}

// Config returns the server's configuration with defaults applied.
func (s *Server) Config() Config { return s.cfg }

// route is a registered WebSocket route.
type route struct {
	path   string
	h      Handler
	protos []string // Subprotocols, if h has them
	up     Upgrader // h, if it is one
}

// Handle registers a WebSocket route. Not safe once Run has started.
func (s *Server) Handle(path string, h Handler) {
	r := &route{path: path, h: h}
	if sp, ok := h.(Subprotocoler); ok {
		r.protos = sp.Subprotocols()
		if len(r.protos) > 255 { // Conn.proto is a byte
			r.protos = r.protos[:255]
		}
	}
	r.up, _ = h.(Upgrader)
	s.routes[path] = r
}

// HandleHTTP registers a plain HTTP GET route. Not safe once Run has started.
func (s *Server) HandleHTTP(path string, h HTTPHandler) { s.http[path] = h }

// HandleSweep registers f to run on every loop at the end of each timer
// sweep (a few times a second, see Config), after the engine's own
// deadlines: handlers keep their per-connection deadlines (a token's
// expiry, say) in their own state and act on them here, with no timer or
// goroutine per connection. f runs on the loop l and must not block. Not
// safe once Run has started.
func (s *Server) HandleSweep(f func(l *Loop)) { s.sweepFns = append(s.sweepFns, f) }

// Ready is closed once the server listens; Addr is valid from then on.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the address the server listens on (with the real port when the
// configured port was 0). Valid after Ready is closed.
func (s *Server) Addr() net.Addr { return s.addr }

// OpenConns is the number of open WebSocket connections.
func (s *Server) OpenConns() int64 { return s.openConns.Load() }

// Loops returns the event loops that have served a connection so far.
func (s *Server) Loops() []*Loop {
	if p := s.loops.Load(); p != nil {
		return *p
	}
	return nil
}

// Run listens and serves until Shutdown or a fatal error. It always returns
// a non-nil error: ErrServerClosed after Shutdown.
func (s *Server) Run() error {
	ln, err := listen(s.cfg.Addr, s.cfg.ReusePort)
	if err != nil {
		close(s.stopped)
		return fmt.Errorf("engine: %w", err)
	}
	s.ln, s.addr, s.fdMax = ln, ln.Addr(), fdLimit()
	opts := []gnet.Option{
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(s.cfg.Loops),
		gnet.WithTicker(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(gnetLogger{s.cfg.Logger}),
	}
	if s.cfg.SocketRecvBuffer > 0 {
		opts = append(opts, gnet.WithSocketRecvBuffer(s.cfg.SocketRecvBuffer))
	}
	if s.cfg.SocketSendBuffer > 0 {
		opts = append(opts, gnet.WithSocketSendBuffer(s.cfg.SocketSendBuffer))
	}
	cli, err := gnet.NewClient(s, opts...)
	if err == nil {
		err = cli.Start()
	}
	if err != nil {
		_ = ln.Close()
		close(s.stopped)
		return fmt.Errorf("engine: %w", err)
	}
	s.cli = cli
	relStop, relDone := make(chan struct{}), make(chan struct{})
	if s.release != nil {
		go s.releaser(relStop, relDone)
	} else {
		close(relDone)
	}
	if s.cfg.UpgradeWorkers > 0 {
		s.upgrades = newUpgradePool(s.cfg.UpgradeWorkers)
	}
	s.tls.start()
	close(s.ready)

	errc := make(chan error, s.cfg.Loops)
	for i := 0; i < s.cfg.Loops; i++ {
		go func() { errc <- s.acceptLoop(ln) }()
	}
	var acceptErr error
	for i := 0; i < s.cfg.Loops; i++ {
		if err := <-errc; err != nil && acceptErr == nil {
			acceptErr = err
			_ = ln.Close() // the other acceptors return too
		}
	}
	if acceptErr == nil {
		<-s.stopping // Shutdown closed the listener; wait for its drain
	}
	_ = cli.Stop() // closes what is left, OnClose for each
	close(relStop)
	<-relDone
	if s.upgrades != nil {
		s.upgrades.stop() // the loops are stopped: nothing submits any more
	}
	s.tls.stop()
	close(s.stopped)
	if acceptErr != nil {
		return fmt.Errorf("engine: accept: %w", acceptErr)
	}
	return ErrServerClosed
}

// Start runs the server in the background and returns once it listens, or
// with the error that kept it from starting (as httptest.Server does for
// net/http). Stop it with Shutdown; Wait returns what Run returned.
func (s *Server) Start() error {
	s.runErr = make(chan error, 1)
	go func() { s.runErr <- s.Run() }()
	select {
	case <-s.ready:
		return nil
	case err := <-s.runErr:
		s.runErr <- err
		return err
	}
}

// Wait blocks until a server started with Start has stopped, and returns
// Run's error: ErrServerClosed after Shutdown.
func (s *Server) Wait() error {
	err := <-s.runErr
	s.runErr <- err
	return err
}

// Draining reports whether Shutdown has begun.
func (s *Server) Draining() bool { return s.draining.Load() }

// Shutdown drains the server, then stops it. The listener is closed, so no
// connection is accepted any more (with SO_REUSEPORT the kernel sends new
// ones to the other processes on the port); every open connection is sent
// close 1001 "going away", and Shutdown waits until they have all closed or
// ctx is done; then the loops stop and close whatever is left. It returns
// ctx.Err() if the drain was cut short, and Run returns ErrServerClosed.
func (s *Server) Shutdown(ctx context.Context) error {
	select {
	case <-s.ready:
	default:
		return ErrNotRunning
	}
	if s.draining.Swap(true) {
		<-s.stopped
		return nil
	}
	_ = s.ln.Close()
	s.cfg.Logger.Info("draining", "open", s.openConns.Load())
	for _, l := range s.Loops() {
		_ = l.Post(drainTask{})
	}
	var err error
	tick := time.NewTicker(10 * time.Millisecond)
	for s.openConns.Load() > 0 && err == nil {
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-tick.C:
		}
	}
	tick.Stop()
	s.cfg.Logger.Info("drained", "left", s.openConns.Load(), "err", err)
	close(s.stopping)
	<-s.stopped
	return err
}

// drainTask sends close 1001 to every open connection of a loop and drops
// connections still in their handshake.
type drainTask struct{}

func (drainTask) Run(l *Loop) {
	// A flush of the arena in the middle of the walk can close a connection
	// (a peer's reset): l.conns does not change until the event ends
	// (Loop.removeConn).
	for _, c := range l.conns {
		switch c.state {
		case stateOpen:
			c.startClose(codec.StatusGoingAway, "going away")
		case stateHandshake, stateUpgrading:
			c.closeNow()
		}
	}
}

func (drainTask) Done() {}

// loopOf returns the engine Loop of a gnet event loop, creating it on first sight.
func (s *Server) loopOf(el gnet.EventLoop) *Loop {
	s.loopsMu.Lock()
	defer s.loopsMu.Unlock()
	if l := s.byEL[el]; l != nil {
		return l
	}
	old := s.Loops()
	l := &Loop{srv: s, el: el, index: len(old)}
	l.sweep.l = l
	l.mem.evict.srv = s
	l.tls.on = s.tls != nil
	s.byEL[el] = l
	next := append(append(make([]*Loop, 0, len(old)+1), old...), l)
	s.loops.Store(&next)
	return l
}

// OnOpen starts the handshake state of an accepted connection.
func (s *Server) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	if t, ok := gc.Context().(*enrollTicket); ok {
		t.opened = true
	}
	l := s.loopOf(gc.EventLoop())
	l.begin()
	defer l.end()
	c := s.newConn() // in a tlsConn on a TLS server (tls.go)
	c.gc, c.loop, c.id, c.t0, c.idx = gc, l, s.nextID.Add(1), l.now, -1
	if ap := addrPortOf(gc.RemoteAddr()); ap.IsValid() {
		c.addr = makePeerAddr(ap)
		if z := ap.Addr().Zone(); z != "" {
			c.moreState().zone = z
		}
	}
	trimGnetConn(gc) // the engine keeps c.addr; see gnettrim.go
	gc.SetContext(c)
	l.addConn(c)
	return nil, gnet.None
}

// OnClose reports the end of a connection to its handler, after the loop's
// current event if gnet closed it in the middle of one.
func (s *Server) OnClose(gc gnet.Conn, _ error) gnet.Action {
	s.sockets.Add(-1)
	c, ok := gc.Context().(*Conn)
	if !ok {
		return gnet.None
	}
	c.state = stateClosed
	c.setHeld(0)
	if c.isTLS() {
		c.tlsClosed() // ends a handshake in flight, wipes the keys
	}
	c.loop.removeConn(c)
	if len(c.loop.heads) != 0 {
		delete(c.loop.heads, c)
	}
	if c.opened {
		c.loop.closed = append(c.loop.closed, c)
	}
	if c.loop.busy == 0 && (c.opened || c.loop.mem.dirty != 0) {
		c.loop.begin()
		c.loop.end() // runs OnClose, publishes the released charge
	}
	return gnet.None
}

// OnTraffic parses what gnet has buffered: the upgrade request, then frames.
func (s *Server) OnTraffic(gc gnet.Conn) gnet.Action {
	c := gc.Context().(*Conn)
	l := c.loop
	l.begin()
	c.lastRead = l.now
	var action gnet.Action
	if c.isTLS() {
		action = c.tlsTraffic() // decrypts, then onTraffic on the plaintext
	} else {
		action = c.onTraffic()
	}
	l.flush() // before end(): deferred OnClose handlers must see this read's writes
	l.end()
	return action
}

func (c *Conn) onTraffic() gnet.Action {
	if c.state == stateUpgrading {
		return c.whileUpgrading()
	}
	if c.state == stateHandshake {
		if act, done := c.handshake(); !done {
			switch c.state {
			case stateHandshake:
				c.account() // a partial request, up to MaxHeaderBytes
			case stateUpgrading:
				act = c.whileUpgrading() // bytes behind the request
			}
			return act
		}
	}
	return c.readFrames(false)
}

// readFrames decodes and dispatches the frames gnet has buffered. copyIn
// is for a read outside OnTraffic (upgradeJob), where gnet's Peek returns
// its ring buffer's own memory: a write failing inside a handler (a peer's
// reset) closes the connection inside the write, and gnet hands that ring
// back to its process-wide pool, where any loop may reuse it, while the
// handler still reads its payload. The bytes are copied into the loop's
// scratch first (at most MaxHeaderBytes plus upgradeSlack there). In
// OnTraffic, Peek returns the loop's read buffer or a copy gnet made, both
// left alone until the event ends.
func (c *Conn) readFrames(copyIn bool) gnet.Action {
	if c.state == stateClosed {
		c.discardIn(-1)
		return gnet.None
	}
	d := c.decoder()
	act := c.decodeFrames(d, copyIn)
	c.releaseDecoder(d)
	return act
}

// decodeFrames is readFrames with c's Decoder d.
func (c *Conn) decodeFrames(d *codec.Decoder, copyIn bool) gnet.Action {
	if c.held != 0 && c.waiting(d) {
		return gnet.None
	}
	buf := c.peekIn()
	if copyIn {
		c.loop.early = append(c.loop.early[:0], buf...)
		buf = c.loop.early
	}
	off, frames, msgs := 0, int64(0), 0
	for !c.closeTCP && (c.state == stateOpen || c.state == stateClosing) {
		ev, n, err := d.Next(buf[off:])
		off += n
		if n > 0 {
			frames++
		}
		if err != nil {
			c.loop.srv.log.connDebug("protocol error", c, slog.String("err", err.Error()))
			c.startClose(codec.CloseCode(err), err.Error())
			continue
		}
		if ev.Kind == codec.KindNone {
			if n == 0 {
				break
			}
			continue
		}
		if ev.Kind == codec.KindMessage {
			msgs++
		}
		c.dispatch(ev)
	}
	// Never Discard(0): gnet reads n <= 0 as "discard everything", which
	// would drop the start of a frame that has not fully arrived.
	if off > 0 {
		c.discardIn(off)
	}
	lc := &c.loop.counters
	lc.nFramesIn += frames
	lc.nBytesIn += int64(off)
	c.afterRead(len(buf)-off, msgs > 0 || (frames > 0 && !d.Fragmented()))
	if c.closeTCP {
		return gnet.Close // after OnTraffic's flush; gnet sends what is buffered, then closes
	}
	return gnet.None
}

func (c *Conn) dispatch(ev codec.Event) {
	switch ev.Kind {
	case codec.KindMessage:
		if c.state == stateOpen && (!ev.Compressed || c.inflate(&ev)) {
			c.rt.h.OnMessage(c, ev.Op, ev.Payload)
		}
	case codec.KindPing:
		if c.state == stateOpen {
			c.sendFrame(codec.OpPong, ev.Payload) // a pong echoes the ping's payload
		}
	case codec.KindPong:
	case codec.KindClose:
		if c.state == stateOpen {
			// Answer with the same code (the decoder has validated it).
			c.setClose(ev.Code, string(ev.Reason))
			var buf [2]byte
			if ev.Code == codec.StatusNoStatusRcvd {
				c.writeControl(codec.AppendClose(buf[:0], 0, "", nil))
			} else {
				c.writeControl(codec.AppendClose(buf[:0], ev.Code, "", nil))
			}
		}
		c.state = stateClosing
		c.closeTCP = true
	}
}

// handshake answers the upgrade request once its head is buffered. done
// reports that the connection is now open and bytes after the request (if
// any) are to be parsed as frames.
//
// A head that comes in several reads is not left in gnet's buffer: each
// read would make gnet copy all it holds plus the new bytes into a new
// slice (Peek), quadratic in the head and garbage at every read. Its
// start is moved to the loop (Loop.heads, charged as extraHeld) and each
// read searches only its new bytes for the blank line.
func (c *Conn) handshake() (gnet.Action, bool) {
	s, l := c.loop.srv, c.loop
	buf := c.peekIn()
	kept := l.heads[c] // nil unless earlier reads brought part of the head
	end := headEnd(kept, buf)
	if end < 0 {
		if len(kept)+len(buf) > s.cfg.MaxHeaderBytes {
			return c.refuse(errHeaderTooLarge), false
		}
		l.keepHead(c, kept, buf)
		return gnet.None, false
	}
	head := buf[:end] // end: the head's bytes still in gnet's buffer
	if kept != nil {
		head = append(kept, head...)
		delete(l.heads, c)
	}
	if len(head) > s.cfg.MaxHeaderBytes {
		return c.refuse(errHeaderTooLarge), false
	}
	req, err := parseRequest(head) // req copies what it keeps of head
	req.RemoteAddr = c.RemoteAddr()
	if err != nil {
		return c.refuse(err), false
	}
	if hh, ok := s.http[req.Path]; ok {
		if req.Method != "GET" && req.Method != "HEAD" {
			return c.refuse(errBadMethod), false
		}
		resp := hh(&req)
		out := appendResponse(nil, resp)
		if req.Method == "HEAD" {
			out = out[:len(out)-len(resp.Body)]
		}
		c.discardIn(-1)
		c.writeRaw(out)
		c.state = stateClosed
		return gnet.Close, false
	}
	r, ok := s.routes[req.Path]
	if !ok {
		return c.refuse(errNotFound), false
	}
	req.Path = r.path // the route's string: no copy per connection
	u, err := checkUpgrade(&req)
	if err != nil {
		return c.refuse(err), false
	}
	var id any
	if r.up != nil {
		if p := s.upgrades; p != nil { // off the loop; see upgradeJob
			if !p.submit(&upgradeJob{c: c, r: r, u: u, end: end, req: req}) {
				return c.refuse(errUpgradeBusy), false
			}
			c.state = stateUpgrading
			return gnet.None, false
		}
		var rf *Refusal
		if id, rf = r.up.Upgrade(&req); rf != nil {
			c.refuseUpgrade(rf)
			return gnet.Close, false
		}
	}
	return c.open(r, u, end, req, id)
}

// open admits an upgrade request whose Upgrader (if any) accepted it with
// identity id, answers 101 and calls OnOpen. end is the request head's
// length in gnet's buffer.
func (c *Conn) open(r *route, u upgradeInfo, end int, req Request, id any) (gnet.Action, bool) {
	s := c.loop.srv
	// The request is the loop's while the upgrade is answered (Request
	// reads it there), so that a Conn does not carry it for its life.
	l := c.loop
	l.hsConn, l.hsReq = c, req
	defer func() { l.hsConn, l.hsReq = nil, Request{} }()
	if he := c.admit(); he != nil {
		return c.refuse(he), false
	}
	c.value = id // the handler's OnOpen finds the Upgrader's identity as Value
	c.rt = r
	if p := selectProtocol(u.protocols, r.protos); p != "" {
		c.proto = uint8(slices.Index(r.protos, p) + 1) // Handle caps protos at 255
	}
	z := c.negotiateDeflate(req)
	c.discardIn(end)
	l.counters.nBytesIn += int64(end)
	var out [256]byte
	c.writeRaw(appendSwitching(out[:0], u, c.Protocol(), z.Response))
	if c.state == stateClosed { // the write failed and gnet closed the connection
		c.releaseSlots()
		return gnet.None, false
	}
	c.setDeflate(z)
	c.opened = true // from here on fireClose releases the slots admit took
	c.state = stateOpen
	c.t0 = 0 // from now on the message deadline (see afterRead)
	c.lastPing = l.now
	s.stats.upgrades.Add(1)
	s.log.connDebug("open", c, slog.String("path", r.path))
	r.h.OnOpen(c)
	if hdr := keepHeaders(req.header, s.cfg.KeepHeaders); hdr != "" || req.RawQuery != "" {
		m := c.moreState()
		m.query, m.header = req.RawQuery, hdr
	}
	return gnet.None, true
}

// refuse answers a bad request with a plain HTTP error and closes.
func (c *Conn) refuse(err error) gnet.Action {
	var he *httpError
	if !errors.As(err, &he) {
		he = &httpError{status: 400, reason: ReasonBadRequest, msg: err.Error()}
	}
	c.loop.srv.stats.refused[he.reason].Add(1)
	c.loop.srv.log.connDebug("refused", c, slog.Int("status", he.status), slog.String("reason", he.reason.String()), slog.String("detail", he.msg))
	c.discardIn(-1)
	c.writeRaw(appendResponse(nil, errorResponse(he)))
	c.state = stateClosed
	return gnet.Close
}

// OnTick posts a sweep to every loop and says when to tick next.
func (s *Server) OnTick() (time.Duration, gnet.Action) {
	for _, l := range s.Loops() {
		l.postSweep()
	}
	return s.cfg.tickPeriod(), gnet.None
}

// addrPortOf is a net.Addr from gnet as a netip.AddrPort (no heap), with a
// v4-mapped IPv6 address unmapped.
func addrPortOf(a net.Addr) netip.AddrPort {
	t, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}
	}
	ap := t.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// ProcessGoroutines lists the top functions of the goroutines gnet starts
// once per process, at package init (its ants worker pool's housekeeping),
// and never stops. Leak checks in tests ignore exactly these.
func ProcessGoroutines() []string {
	return []string{
		"github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers",
		"github.com/panjf2000/ants/v2.(*poolCommon).ticktock",
	}
}
