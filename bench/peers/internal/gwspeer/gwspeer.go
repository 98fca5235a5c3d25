// Package gwspeer is the lxzan/gws peer, written as gws's README "Best
// Practice" shows: gws.NewUpgrader with an Event handler under net/http,
// socket.ReadLoop() in its own goroutine, and gws.NewBroadcaster for the
// chat fan-out (the frame is encoded once for all recipients).
//
//	stop, err := gwspeer.Serve(ln, gwspeer.Options{})
package gwspeer

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	"edgews/bench/peers/internal/route"
)

// Options are the gws knobs a bench run may want to flip.
type Options struct {
	// Parallel sets gws's ServerOption.ParallelEnabled: OnMessage of one
	// connection runs on up to ParallelGolimit (8) goroutines at once. gws
	// documents that messages are then handled out of order, so echo
	// replies and one user's chat lines may be reordered; off by default.
	Parallel bool
	// Compression sets PermessageDeflate{Enabled: true} as gws's README
	// server example does, keeping its defaults: no context takeover,
	// level 1 (flate.BestSpeed), messages under 512 bytes sent plain, a
	// pool of 32 compressors; the Broadcaster compresses a message once.
	Compression bool
}

type server struct {
	wg    sync.WaitGroup // ReadLoop goroutines
	mu    sync.Mutex
	conns map[*gws.Conn]struct{} // every live socket, closed by stop
	done  bool
}

// Serve starts the peer on ln. The returned stop closes ln and every
// connection and returns once every ReadLoop has ended.
func Serve(ln net.Listener, opt Options) (stop func(), err error) {
	s := &server{conns: make(map[*gws.Conn]struct{})}
	newUpgrader := func(h gws.Event) *gws.Upgrader {
		return gws.NewUpgrader(h, &gws.ServerOption{
			ParallelEnabled:    opt.Parallel,
			ReadMaxPayloadSize: route.MaxMessageSize,
			// WriteMaxPayloadSize: chat lines are the text plus "[userK]: ".
			WriteMaxPayloadSize: route.MaxMessageSize + 64,
			// CheckUtf8Enabled stays false: gws notes "turn off the
			// performance will be better". PermessageDeflate only with
			// Options.Compression (the node's --compression is off by
			// default).
			PermessageDeflate: gws.PermessageDeflate{Enabled: opt.Compression},
		})
	}
	echo := newUpgrader(echoHandler{})
	chat := newUpgrader(&chatHandler{users: make(map[*gws.Conn]struct{})})

	mux := http.NewServeMux()
	mux.HandleFunc(route.EchoPath, s.handle(echo))
	mux.HandleFunc(route.ChatPath, s.handle(chat))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() { _ = srv.Serve(ln); close(served) }()

	return func() {
		_ = srv.Close()
		<-served
		s.mu.Lock()
		s.done = true
		for c := range s.conns {
			_ = c.NetConn().Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	}, nil
}

func (s *server) handle(up *gws.Upgrader) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		socket, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.done {
			s.mu.Unlock()
			_ = socket.NetConn().Close()
			return
		}
		s.conns[socket] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		// gws README: run ReadLoop in a goroutine so the handler returns and
		// net/http's request context can be collected.
		go func() {
			defer s.wg.Done()
			socket.ReadLoop() // calls OnClose before it returns
			s.mu.Lock()
			delete(s.conns, socket)
			s.mu.Unlock()
		}()
	}
}

// pong answers a ping with its payload (RFC 6455 5.5.3); gws's
// BuiltinEventHandler would send an empty pong.
func pong(socket *gws.Conn, payload []byte) { _ = socket.WritePong(payload) }

type echoHandler struct{ gws.BuiltinEventHandler }

func (echoHandler) OnPing(socket *gws.Conn, payload []byte) { pong(socket, payload) }

// OnMessage writes the message back synchronously, as gws's echo example.
func (echoHandler) OnMessage(socket *gws.Conn, message *gws.Message) {
	defer message.Close()
	_ = socket.WriteMessage(message.Opcode, message.Bytes())
}

type chatHandler struct {
	gws.BuiltinEventHandler
	nextID atomic.Uint64

	mu    sync.RWMutex
	users map[*gws.Conn]struct{}
}

const prefixKey = "prefix"

func (h *chatHandler) OnPing(socket *gws.Conn, payload []byte) { pong(socket, payload) }

func (h *chatHandler) OnOpen(socket *gws.Conn) {
	socket.Session().Store(prefixKey, route.Prefix(h.nextID.Add(1)-1))
	h.mu.Lock()
	h.users[socket] = struct{}{}
	n := len(h.users)
	// WriteAsync queues on the socket's write queue while we hold the lock,
	// so the greeting is queued before any broadcast can reach this user.
	socket.WriteAsync(gws.OpcodeText, route.Greeting(n), nil)
	h.mu.Unlock()
}

// OnClose runs on close frame, read/write error or abrupt disconnect; once
// removed, no broadcast is queued for the socket any more.
func (h *chatHandler) OnClose(socket *gws.Conn, err error) {
	h.mu.Lock()
	delete(h.users, socket)
	h.mu.Unlock()
}

func (h *chatHandler) OnMessage(socket *gws.Conn, message *gws.Message) {
	defer message.Close()
	if message.Opcode != gws.OpcodeText {
		return // Ktor's chat ignores non-text frames
	}
	v, _ := socket.Session().Load(prefixKey)
	prefix, _ := v.([]byte)
	// gws README "Broadcast": one Broadcaster per message, Broadcast to each
	// conn (it only queues a write of the shared frame), then Close.
	b := gws.NewBroadcaster(gws.OpcodeText, route.Line(prefix, message.Bytes()))
	h.mu.RLock()
	for c := range h.users {
		_ = b.Broadcast(c)
	}
	h.mu.RUnlock()
	_ = b.Close()
}
