// Package gorillapeer is the gorilla/websocket peer: one goroutine per
// connection reading, net/http serving, and for /chat the hub + write pump
// design of gorilla's examples/chat.
//
//	stop, err := gorillapeer.Serve(ln)
//	...
//	stop() // closes the listener and every connection, waits for goroutines
package gorillapeer

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"edgews/bench/peers/internal/route"
)

const (
	// writeWait bounds one write to a chat peer, as in gorilla's chat example.
	writeWait = 10 * time.Second
	// maxPooledBuf keeps big echo buffers out of the pool so one 4 MiB
	// message does not pin 4 MiB for good.
	maxPooledBuf = 64 << 10
)

// server owns everything one Serve call started.
type server struct {
	upgrader websocket.Upgrader
	hub      *hub
	nextID   atomic.Uint64

	wg    sync.WaitGroup // connection goroutines
	mu    sync.Mutex
	conns map[*websocket.Conn]struct{} // hijacked conns, closed by stop
	done  bool
}

// Options are the peer's settings for a bench run.
type Options struct {
	// Compression negotiates permessage-deflate: Upgrader.EnableCompression,
	// as gorilla's doc.go ("Compression EXPERIMENTAL") shows, with its
	// defaults (no context takeover, level 1, every message compressed);
	// the chat's PreparedMessage then compresses a broadcast once for
	// every recipient.
	Compression bool
}

// Serve starts the peer on ln with the default Options.
func Serve(ln net.Listener) (stop func(), err error) { return ServeWith(ln, Options{}) }

// ServeWith starts the peer on ln. The returned stop closes ln and every
// connection and returns once all goroutines of this peer have ended.
func ServeWith(ln net.Listener, opt Options) (stop func(), err error) {
	s := &server{
		upgrader: websocket.Upgrader{
			// gorilla doc.go "Buffers": limit buffers to the expected message
			// size; a WriteBufferPool means a connection holds its write buffer
			// only while writing, which saves memory on many mostly idle conns.
			ReadBufferSize:  4096,
			WriteBufferSize: 4096,
			WriteBufferPool: &sync.Pool{},
			// Bench clients may send any Origin; the node does not check it.
			CheckOrigin:       func(*http.Request) bool { return true },
			EnableCompression: opt.Compression,
		},
		hub:   newHub(),
		conns: make(map[*websocket.Conn]struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc(route.EchoPath, s.serveEcho)
	mux.HandleFunc(route.ChatPath, s.serveChat)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	hubDone := make(chan struct{})
	go func() { s.hub.run(); close(hubDone) }()
	served := make(chan struct{})
	go func() { _ = srv.Serve(ln); close(served) }()

	return func() {
		_ = srv.Close() // listener and not-yet-upgraded conns
		<-served
		s.mu.Lock()
		s.done = true
		for c := range s.conns {
			_ = c.NetConn().Close()
		}
		s.mu.Unlock()
		s.wg.Wait() // read loops end, unregister, write pumps end
		close(s.hub.quit)
		<-hubDone
	}, nil
}

// upgrade upgrades and tracks the connection; it returns nil when the
// upgrade failed or the server is stopping.
func (s *server) upgrade(w http.ResponseWriter, r *http.Request) *websocket.Conn {
	c, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil // Upgrade already answered with an HTTP error
	}
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		_ = c.NetConn().Close()
		return nil
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	c.SetReadLimit(route.MaxMessageSize)
	return c
}

func (s *server) forget(c *websocket.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	_ = c.Close()
	s.wg.Done()
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// serveEcho is gorilla's examples/echo loop (read a message, write it back
// from the same goroutine; one writer so no pump is needed). It reads
// through NextReader into a pooled buffer instead of ReadMessage to avoid an
// allocation per message, and writes with WriteMessage, whose server fast
// path sends the whole message as one frame.
func (s *server) serveEcho(w http.ResponseWriter, r *http.Request) {
	c := s.upgrade(w, r)
	if c == nil {
		return
	}
	defer s.forget(c)
	for {
		mt, rd, err := c.NextReader()
		if err != nil {
			return
		}
		bp := bufPool.Get().(*[]byte)
		msg, err := readAll(rd, (*bp)[:0])
		if err == nil {
			err = c.WriteMessage(mt, msg)
		}
		if cap(msg) <= maxPooledBuf {
			*bp = msg[:0]
			bufPool.Put(bp)
		}
		if err != nil {
			return
		}
	}
}

// readAll appends r to b until io.EOF.
func readAll(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// client is one chat user. The hub appends to its queue, the write pump
// drains it; see sendq.
type client struct {
	conn   *websocket.Conn
	q      sendq
	prefix []byte
}

// sendq is a client's outbound queue. Like the send channel of gorilla's
// chat example it decouples the hub from the socket and drops a client
// that falls behind, but its budget is bytes (route.MaxOutboundBytes, the
// node's slow-consumer limit) instead of a fixed 256 messages, and it
// allocates only while messages wait: a channel deep enough for bursts
// would be allocated up front for every idle user.
type sendq struct {
	wake chan struct{} // cap 1: "queue is not empty or closed"

	mu     sync.Mutex
	msgs   []*websocket.PreparedMessage
	bytes  int
	closed bool
}

func newSendq() sendq { return sendq{wake: make(chan struct{}, 1)} }

// push queues pm of n payload bytes; it reports false, and queues nothing,
// when the budget would be exceeded (slow consumer) or q is closed.
func (q *sendq) push(pm *websocket.PreparedMessage, n int) bool {
	q.mu.Lock()
	if q.closed || q.bytes+n > route.MaxOutboundBytes {
		q.mu.Unlock()
		return false
	}
	q.msgs = append(q.msgs, pm)
	q.bytes += n
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// close makes pop return closed once the queue is empty.
func (q *sendq) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take moves every queued message into buf (reused between calls) and
// reports whether the queue is closed.
func (q *sendq) take(buf []*websocket.PreparedMessage) ([]*websocket.PreparedMessage, bool) {
	q.mu.Lock()
	buf = append(buf[:0], q.msgs...)
	clear(q.msgs)
	q.msgs = q.msgs[:0]
	q.bytes = 0
	closed := q.closed
	q.mu.Unlock()
	return buf, closed
}

func (s *server) serveChat(w http.ResponseWriter, r *http.Request) {
	c := s.upgrade(w, r)
	if c == nil {
		return
	}
	cl := &client{
		conn:   c,
		q:      newSendq(),
		prefix: route.Prefix(s.nextID.Add(1) - 1),
	}
	s.wg.Add(1)
	go s.writePump(cl)
	s.hub.register <- cl
	s.readPump(cl)
}

// readPump reads text messages and hands them to the hub; it unregisters
// the client on any read error (close frame, error, abrupt disconnect).
func (s *server) readPump(cl *client) {
	defer func() {
		s.hub.unregister <- cl
		s.forget(cl.conn)
	}()
	for {
		mt, data, err := cl.conn.ReadMessage()
		if err != nil {
			return
		}
		if mt != websocket.TextMessage {
			continue // Ktor's chat ignores non-text frames
		}
		// gorilla's PreparedMessage encodes the frame once for every
		// recipient ("use PreparedMessage to efficiently send a message
		// payload to multiple connections").
		line := route.Line(cl.prefix, data)
		pm, err := websocket.NewPreparedMessage(websocket.TextMessage, line)
		if err != nil {
			continue
		}
		s.hub.broadcast <- outMsg{pm: pm, n: len(line)}
	}
}

// writePump is the only writer of the connection, as in gorilla's chat
// example. It ends when the hub closes the queue (unregister or
// slow-consumer drop) or a write fails.
func (s *server) writePump(cl *client) {
	defer s.wg.Done()
	defer cl.conn.NetConn().Close() // wake readPump if we stopped first
	var batch []*websocket.PreparedMessage
	for range cl.q.wake {
		var closed bool
		batch, closed = cl.q.take(batch)
		for _, pm := range batch {
			_ = cl.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := cl.conn.WritePreparedMessage(pm); err != nil {
				// The read side fails too and unregisters us.
				return
			}
		}
		clear(batch)
		if closed {
			// Dropped or unregistered: say goodbye like gorilla's example.
			_ = cl.conn.WriteControl(websocket.CloseMessage, nil, time.Now().Add(time.Second))
			return
		}
	}
}

// outMsg is one broadcast: the shared frame and its payload size.
type outMsg struct {
	pm *websocket.PreparedMessage
	n  int
}

// hub owns the set of chat clients; one goroutine serialises register,
// unregister and broadcast, as in gorilla's examples/chat/hub.go.
type hub struct {
	clients    map[*client]struct{}
	register   chan *client
	unregister chan *client
	broadcast  chan outMsg
	quit       chan struct{}
}

func newHub() *hub {
	return &hub{
		clients:    make(map[*client]struct{}),
		register:   make(chan *client),
		unregister: make(chan *client),
		broadcast:  make(chan outMsg),
		quit:       make(chan struct{}),
	}
}

func (h *hub) run() {
	for {
		select {
		case cl := <-h.register:
			h.clients[cl] = struct{}{}
			// The queue is empty, so the greeting precedes every broadcast
			// this client will see.
			g := route.Greeting(len(h.clients))
			if pm, err := websocket.NewPreparedMessage(websocket.TextMessage, g); err == nil {
				cl.q.push(pm, len(g))
			}
		case cl := <-h.unregister:
			if _, ok := h.clients[cl]; ok {
				delete(h.clients, cl)
				cl.q.close()
			}
		case m := <-h.broadcast:
			for cl := range h.clients {
				if !cl.q.push(m.pm, m.n) {
					// Slow consumer: drop it, as gorilla's chat example does
					// when a send channel is full.
					delete(h.clients, cl)
					cl.q.close()
				}
			}
		case <-h.quit:
			return
		}
	}
}
