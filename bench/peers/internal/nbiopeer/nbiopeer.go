// Package nbiopeer is the lesismal/nbio peer in event-loop mode: an
// nbhttp.Engine with IOModNonBlocking (every connection lives on the epoll
// poller, no goroutine per connection) and websocket.NewUpgrader with
// OnOpen/OnMessage/OnClose, as in nbio's README ("Different IOMod") and
// go-websocket-benchmark's nbio_nonblocking server.
//
//	stop, err := nbiopeer.Serve(ln)
package nbiopeer

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"

	"edgews/bench/peers/internal/route"
)

// Serve starts the peer on ln (nbio takes the listener over and closes it
// on stop). The returned stop closes every connection and returns once the
// engine's pollers and task pools have stopped.
func Serve(ln net.Listener) (stop func(), err error) { return ServeWith(ln, Options{}) }

// Options are the peer's settings for a bench run.
type Options struct {
	// Compression negotiates permessage-deflate: Upgrader.EnableCompression,
	// as nbio's examples do, with its defaults (level 1); each write to a
	// connection that negotiated it is compressed for that connection.
	Compression bool
}

// ServeWith is Serve with opt.
func ServeWith(ln net.Listener, opt Options) (stop func(), err error) {
	mux := http.NewServeMux()
	engine := nbhttp.NewEngine(nbhttp.Config{
		Network: "tcp",
		Addrs:   []string{ln.Addr().String()},
		// Hand nbio the listener we already hold (bench and tests pick the
		// port before the peer starts).
		Listen: func(string, string) (net.Listener, error) { return ln, nil },
		// Event-loop mode: every connection is served by the poller; the
		// mode of the 1M-connection benchmark in nbio's README.
		IOMod:   nbhttp.IOModNonBlocking,
		Handler: mux,
		// Return each message's buffer to nbio's pool right after
		// OnMessage (nbio's websocket_1m example and benchmark server).
		ReleaseWebsocketPayload: true,
		// nbio's slow-consumer policy (nbhttp.Config docs): once the socket
		// send queue is full and nbio holds more than this for the conn, it
		// closes it. The README's quick start sets 6 MiB; we use the node's
		// 4 MiB budget so both drop slow readers at the same point.
		MaxWriteBufferSize: route.MaxOutboundBytes,
		// nbio splits outgoing messages into frames of at most this size
		// (default 32 KiB); raised so every message goes out as one frame,
		// like the other peers. Incoming size is MessageLengthLimit below.
		MaxWebsocketFramePayloadSize: route.MaxMessageSize + 64,
		// No HTTP client in this process: skip the client task pool.
		SupportServerOnly: true,
	})
	echo, chat := newEchoUpgrader(), newChatUpgrader()
	echo.EnableCompression(opt.Compression)
	chat.EnableCompression(opt.Compression)
	mux.HandleFunc(route.EchoPath, upgradeWith(echo))
	mux.HandleFunc(route.ChatPath, upgradeWith(chat))
	if err := engine.Start(); err != nil {
		return nil, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// Shutdown stops the listener, closes every conn and stops the
		// engine; if conns linger past the timeout, Stop forces it.
		if engine.Shutdown(ctx) != nil {
			engine.Stop()
		}
	}, nil
}

// newUpgrader applies the settings both routes share.
func newUpgrader() *websocket.Upgrader {
	u := websocket.NewUpgrader()
	u.MessageLengthLimit = route.MaxMessageSize
	// No idle timeout, like the other peers: nbio's default (120 s) re-arms
	// a read deadline after every message.
	u.KeepaliveTime = 0
	u.CheckOrigin = func(*http.Request) bool { return true }
	// Pings are answered by nbio's default ping handler (pong with payload).
	return u
}

func upgradeWith(u *websocket.Upgrader) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = u.Upgrade(w, r, nil) // on error Upgrade has answered already
	}
}

func newEchoUpgrader() *websocket.Upgrader {
	u := newUpgrader()
	// WriteMessage copies data into nbio's write path before returning, so
	// the payload can be released right after (ReleaseWebsocketPayload).
	u.OnMessage(func(c *websocket.Conn, mt websocket.MessageType, data []byte) {
		_ = c.WriteMessage(mt, data)
	})
	return u
}

// room is the chat's user set: a mutex-protected map iterated per
// broadcast. nbio's Conn.WriteMessage is safe from any goroutine and never
// blocks (it buffers when the socket is full), so writing under the lock
// is cheap and gives each user its greeting before any broadcast.
type room struct {
	nextID atomic.Uint64
	mu     sync.RWMutex
	users  map[*websocket.Conn]struct{}
}

func newChatUpgrader() *websocket.Upgrader {
	rm := &room{users: make(map[*websocket.Conn]struct{})}
	u := newUpgrader()
	u.OnOpen(func(c *websocket.Conn) {
		c.SetSession(route.Prefix(rm.nextID.Add(1) - 1))
		rm.mu.Lock()
		rm.users[c] = struct{}{}
		_ = c.WriteMessage(websocket.TextMessage, route.Greeting(len(rm.users)))
		rm.mu.Unlock()
	})
	// nbio guarantees OnOpen/OnMessage/OnClose order per connection.
	u.OnMessage(func(c *websocket.Conn, mt websocket.MessageType, data []byte) {
		if mt != websocket.TextMessage {
			return // Ktor's chat ignores non-text frames
		}
		prefix, _ := c.Session().([]byte)
		line := route.Line(prefix, data)
		rm.mu.RLock()
		for u := range rm.users {
			_ = u.WriteMessage(websocket.TextMessage, line)
		}
		rm.mu.RUnlock()
	})
	u.OnClose(func(c *websocket.Conn, err error) {
		rm.mu.Lock()
		delete(rm.users, c)
		rm.mu.Unlock()
	})
	return u
}
