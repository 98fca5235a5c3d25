package hub_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"edgews/engine"
	"edgews/engine/enginetest"
	"edgews/hub"
	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	var opts []goleak.Option
	for _, f := range engine.ProcessGoroutines() {
		opts = append(opts, goleak.IgnoreTopFunction(f))
	}
	goleak.VerifyTestMain(m, opts...)
}

// startNode runs the node (engine + hub) on 127.0.0.1:0 until the test ends.
func startNode(t *testing.T, cfg engine.Config) (*engine.Server, *hub.Hub) {
	t.Helper()
	return startNodeConfig(t, cfg, hub.Config{Shards: 4})
}

// startNodeConfig is startNode with a hub configuration.
func startNodeConfig(t *testing.T, cfg engine.Config, hcfg hub.Config) (*engine.Server, *hub.Hub) {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	cfg.Loops = 2
	srv := engine.New(cfg)
	h := hub.New(srv, hcfg)
	enginetest.Start(t, srv)
	return srv, h
}

// client is a chat client whose received lines arrive on a channel.
type client struct {
	c    *websocket.Conn
	in   chan string
	done chan struct{}
	err  error // why reading ended; valid once done is closed
}

func dialChat(t *testing.T, srv *engine.Server) *client {
	t.Helper()
	return dialChatTarget(t, srv, "/chat")
}

// dialChatTarget dials target ("/chat?name=x") offering protocols.
func dialChatTarget(t *testing.T, srv *engine.Server, target string, protocols ...string) *client {
	t.Helper()
	d := websocket.Dialer{Subprotocols: protocols}
	c, _, err := d.Dial("ws://"+srv.Addr().String()+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := &client{c: c, in: make(chan string, 1024), done: make(chan struct{})}
	go func() {
		defer close(cl.done)
		for {
			_, p, err := c.ReadMessage()
			if err != nil {
				cl.err = err
				return
			}
			cl.in <- string(p)
		}
	}()
	t.Cleanup(func() { c.Close(); <-cl.done })
	return cl
}

func (cl *client) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-cl.in:
		if got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %q", want)
	}
}

func (cl *client) send(t *testing.T, s string) {
	t.Helper()
	if err := cl.c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

func TestChatOverSockets(t *testing.T) {
	srv, h := startNode(t, engine.Config{})
	var cls []*client
	for i := 0; i < 4; i++ {
		cl := dialChat(t, srv)
		cl.expect(t, fmt.Sprintf("You are connected! There are %d users here.", i+1))
		cls = append(cls, cl)
	}
	cls[2].send(t, "hello from two")
	for _, cl := range cls {
		cl.expect(t, "[user2]: hello from two")
	}
	// Removal on a clean close: the others keep chatting, the user count drops.
	_ = cls[0].c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
	<-cls[0].done
	waitUsers(t, h, 3)
	cls[1].send(t, "still here")
	for _, cl := range cls[1:] {
		cl.expect(t, "[user1]: still here")
	}
}

// A client that vanishes while broadcasts are being delivered is removed;
// everyone else receives every message, in order.
func TestChatAbruptDisconnectDuringBroadcast(t *testing.T) {
	srv, h := startNode(t, engine.Config{})
	var cls []*client
	for i := 0; i < 6; i++ {
		cl := dialChat(t, srv)
		<-cl.in // greeting
		cls = append(cls, cl)
	}
	const n = 200
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			if i == n/4 {
				cls[5].c.UnderlyingConn().Close() // no close frame
			}
			_ = cls[0].c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf("m%d", i)))
		}
	}()
	for _, cl := range cls[:5] {
		for i := 0; i < n; i++ {
			cl.expect(t, fmt.Sprintf("[user0]: m%d", i))
		}
	}
	wg.Wait()
	waitUsers(t, h, 5)
	if got := h.Stats().Deliveries.Load(); got < 5*n {
		t.Fatalf("Deliveries = %d, want at least %d", got, 5*n)
	}
}

func waitUsers(t *testing.T, h *hub.Hub, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for h.Users() != n {
		if time.Now().After(deadline) {
			t.Fatalf("Users = %d, want %d", h.Users(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
