package bench_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"
)

// dropChat is a /chat server with the node's semantics (greeting, names
// user0, user1, ..., every text broadcast to everyone as "[userK]: T") that
// loses exactly one delivery: broadcast number dropAt (1-based) is not
// delivered to the first-connected user other than its sender (whose copy
// would be read as a refusal, not a loss). One goroutine per connection is
// fine in a test.
type dropChat struct {
	url     string
	dropAt  int64
	dropped atomic.Int64

	mu      sync.Mutex
	remotes map[string]int // connections per remote IP
	clients map[int]chan []byte
	next    int
	sent    int64 // broadcasts so far
}

func newDropChat(t *testing.T, dropAt int64) *dropChat {
	d := &dropChat{dropAt: dropAt, clients: map[int]chan []byte{}, remotes: map[string]int{}}
	up := websocket.Upgrader{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/chat" {
			http.NotFound(w, r)
			return
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			d.mu.Lock()
			d.remotes[host]++
			d.mu.Unlock()
		}
		d.serve(ws)
	}))
	t.Cleanup(hs.Close)
	d.url = "ws://" + hs.Listener.Addr().String()
	return d
}

func (d *dropChat) serve(ws *websocket.Conn) {
	out := make(chan []byte, 4096)
	d.mu.Lock()
	id := d.next
	d.next++
	d.clients[id] = out
	n := len(d.clients)
	d.mu.Unlock()
	name := "user" + strconv.Itoa(id)
	out <- []byte("You are connected! There are " + strconv.Itoa(n) + " users here.")
	done := make(chan struct{})
	go func() { // the one writer
		defer close(done)
		for m := range out {
			if ws.WriteMessage(websocket.TextMessage, m) != nil {
				return
			}
		}
	}()
	for {
		typ, p, err := ws.ReadMessage()
		if err != nil {
			break
		}
		if typ == websocket.TextMessage {
			d.broadcast(id, []byte("["+name+"]: "+string(p)))
		}
	}
	d.mu.Lock()
	delete(d.clients, id)
	close(out)
	d.mu.Unlock()
	<-done
	ws.Close()
}

func (d *dropChat) broadcast(from int, m []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sent++
	victim := -1
	if d.sent == d.dropAt {
		for id := range d.clients {
			if id != from && (victim < 0 || id < victim) {
				victim = id
			}
		}
	}
	for id, out := range d.clients {
		if id == victim {
			d.dropped.Add(1)
			continue
		}
		select {
		case out <- m:
		default: // a test server never blocks the broadcaster
		}
	}
}
