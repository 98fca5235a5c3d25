package engine_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"edgews/codec"
	"edgews/engine"
	"edgews/engine/enginetest"
	"github.com/gorilla/websocket"
)

// status dials path with extra request headers and returns the response's status code.
func upgradeStatus(t *testing.T, srv *engine.Server, path string, header http.Header) (int, *websocket.Conn) {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(wsURL(srv, path), header)
	if err == nil {
		t.Cleanup(func() { c.Close() })
		return resp.StatusCode, c
	}
	if resp == nil {
		t.Fatalf("dial: %v", err)
	}
	return resp.StatusCode, nil
}

func TestMaxConns(t *testing.T) {
	srv, _ := echoServer(t, engine.Config{MaxConns: 3})
	var open []*websocket.Conn
	for i := 0; i < 3; i++ {
		code, c := upgradeStatus(t, srv, "/echo", nil)
		if code != 101 {
			t.Fatalf("connection %d: status %d", i, code)
		}
		open = append(open, c)
	}
	if code, _ := upgradeStatus(t, srv, "/echo", nil); code != 503 {
		t.Fatalf("4th connection: status %d, want 503", code)
	}
	if got := srv.Stats().Refused[engine.ReasonMaxConns]; got != 1 {
		t.Fatalf("Refused[max_conns] = %d", got)
	}
	// A slot frees when a connection closes.
	open[0].Close()
	enginetest.CheckFor(t, 5*time.Second, func() bool { return srv.OpenConns() == 2 }, "the close")
	if code, _ := upgradeStatus(t, srv, "/echo", nil); code != 101 {
		t.Fatalf("after a close: status %d, want 101", code)
	}
}

func TestMaxConnsPerIP(t *testing.T) {
	srv, _ := echoServer(t, engine.Config{MaxConnsPerIP: 2})
	for i := 0; i < 2; i++ {
		if code, _ := upgradeStatus(t, srv, "/echo", nil); code != 101 {
			t.Fatalf("connection %d: status %d", i, code)
		}
	}
	if code, _ := upgradeStatus(t, srv, "/echo", nil); code != 429 {
		t.Fatalf("3rd connection from 127.0.0.1: status %d, want 429", code)
	}
	// Another source address has its own allowance.
	d := websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
		return nd.Dial(network, addr)
	}}
	c, resp, err := d.Dial(wsURL(srv, "/echo"), nil)
	if err != nil {
		t.Fatalf("from 127.0.0.2: %v %v", err, resp)
	}
	c.Close()
}

func TestAllowedOrigins(t *testing.T) {
	srv, _ := echoServer(t, engine.Config{AllowedOrigins: []string{"https://chat.example.com", "https://*.edge.example"}})
	tests := []struct {
		origin string
		want   int
	}{
		{"https://chat.example.com", 101},
		{"HTTPS://CHAT.EXAMPLE.COM", 101},
		{"https://eu.edge.example", 101},
		{"https://a.b.edge.example", 101},
		{"", 101}, // not a browser
		{"https://evil.example", 403},
		{"http://chat.example.com", 403},
		{"https://edge.example", 403},
		{"https://evil.com/.edge.example", 403},
		{"https://x.edge.example:8443", 403},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.origin != "" {
			h.Set("Origin", tt.origin)
		}
		if code, _ := upgradeStatus(t, srv, "/echo", h); code != tt.want {
			t.Errorf("Origin %q: status %d, want %d", tt.origin, code, tt.want)
		}
	}
}

// A client that dribbles a never-ending header is cut off by the header
// cap, one that stalls by the handshake timeout.
func TestSlowAndHugeRequests(t *testing.T) {
	srv, _ := echoServer(t, engine.Config{MaxHeaderBytes: 2048, HandshakeTimeout: 300 * time.Millisecond})
	huge, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer huge.Close()
	_, _ = io.WriteString(huge, "GET /echo HTTP/1.1\r\nHost: x\r\n")
	for i := 0; i < 100; i++ {
		if _, err := io.WriteString(huge, "X-Pad: "+strings.Repeat("a", 100)+"\r\n"); err != nil {
			break // closed already
		}
	}
	_ = huge.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, _ := io.ReadAll(huge)
	if !strings.HasPrefix(string(resp), "HTTP/1.1 431 ") {
		t.Fatalf("huge header: %q", resp)
	}
	before := srv.Stats().Refused[engine.ReasonTimeout]
	slow, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	for i := 0; i < 3; i++ {
		_, _ = io.WriteString(slow, "G")
		time.Sleep(50 * time.Millisecond)
	}
	_ = slow.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := slow.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("slow request not closed: %v", err)
	}
	enginetest.CheckFor(t, time.Second, func() bool { return srv.Stats().Refused[engine.ReasonTimeout] == before+1 }, "the timeout counted")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Shutdown stops accepting, sends 1001 to every connection, waits for
// them, and Run returns ErrServerClosed.
func TestShutdownDrains(t *testing.T) {
	rec := &recorder{}
	srv := engine.New(engine.Config{Addr: "127.0.0.1:0", Loops: 2, Logger: testLogger(t)})
	srv.Handle("/echo", rec)
	errc := make(chan error, 1)
	go func() { errc <- srv.Run() }()
	<-srv.Ready()
	var clients []*rawClient
	for i := 0; i < 5; i++ {
		clients = append(clients, dialRaw(t, srv.Addr(), "/echo"))
	}
	// One client that will not answer the close frame: the drain waits for
	// the close timeout, then TCP is closed.
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- srv.Shutdown(ctx)
	}()
	for _, rc := range clients[:4] {
		if code := rc.expectClose(5 * time.Second); code != codec.StatusGoingAway {
			t.Fatalf("close code %d, want 1001", code)
		}
		rc.write(codec.AppendClose(nil, codec.StatusGoingAway, "", &[4]byte{1, 2, 3, 4}))
	}
	// While draining the listener is closed: new connections are refused
	// (with SO_REUSEPORT the kernel sends them to the other processes).
	enginetest.CheckFor(t, 5*time.Second, func() bool { return srv.OpenConns() == 1 }, "four clean closes")
	if !srv.Draining() {
		t.Fatal("Draining() = false during the drain")
	}
	if c, err := net.DialTimeout("tcp", srv.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("a new connection was accepted during the drain")
	}
	if code := clients[4].expectClose(5 * time.Second); code != codec.StatusGoingAway {
		t.Fatalf("close code %d", code)
	}
	clients[4].expectEOF(10 * time.Second) // after the close timeout
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-errc; !errors.Is(err, engine.ErrServerClosed) {
		t.Fatalf("Run: %v", err)
	}
	if n := len(rec.closes()); n != 5 {
		t.Fatalf("%d OnClose calls, want 5", n)
	}
}

// The counters move with connections and frames.
func TestStatsCount(t *testing.T) {
	srv, _ := echoServer(t, engine.Config{})
	rc := dialRaw(t, srv.Addr(), "/echo")
	for i := 0; i < 10; i++ {
		rc.write(frame(true, codec.OpText, []byte("0123456789")))
		if _, err := rc.next(5 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// The loop publishes its frame counts at the end of the event, after the
	// echo went out: the client can read it first.
	enginetest.CheckFor(t, 5*time.Second, func() bool { return srv.Stats().FramesOut == 10 }, "10 frames out counted")
	st := srv.Stats()
	if st.OpenConns != 1 || st.Upgrades != 1 || st.Accepted != 1 {
		t.Fatalf("open %d upgrades %d accepted %d", st.OpenConns, st.Upgrades, st.Accepted)
	}
	if st.FramesIn != 10 || st.FramesOut != 10 {
		t.Fatalf("frames in %d out %d, want 10 and 10", st.FramesIn, st.FramesOut)
	}
	if st.BytesOut != 10*12 || st.BytesIn < 10*16 {
		t.Fatalf("bytes in %d out %d", st.BytesIn, st.BytesOut)
	}
	rc.write(codec.AppendClose(nil, 1000, "", &[4]byte{1, 2, 3, 4}))
	rc.expectClose(5 * time.Second)
	enginetest.CheckFor(t, 5*time.Second, func() bool { return srv.Stats().Closes[0] == 1 }, "close 1000 counted")
	if len(st.LoopLag) == 0 {
		t.Fatal("no loop lag reported")
	}
}

// Every header is readable in OnOpen; afterwards only Config.KeepHeaders.
func TestHeadersKeptAfterOpen(t *testing.T) {
	type seen struct{ keepOpen, dropOpen, keepLater, dropLater string }
	got := make(chan seen, 1)
	var s seen
	rec := &recorder{
		configure: func(c *engine.Conn) {
			s.keepOpen, s.dropOpen = c.Request().Header("X-Keep"), c.Request().Header("X-Drop")
		},
		onMessage: func(c *engine.Conn, _ codec.OpCode, _ []byte) bool {
			s.keepLater, s.dropLater = c.Request().Header("x-keep"), c.Request().Header("X-Drop")
			got <- s
			return true
		},
	}
	srv := startServer(t, engine.Config{KeepHeaders: []string{"X-Keep"}}, func(s *engine.Server) { s.Handle("/echo", rec) })
	h := http.Header{"X-Keep": {"k"}, "X-Drop": {"d"}}
	c, _, err := websocket.DefaultDialer.Dial(wsURL(srv, "/echo?q=1"), h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.WriteMessage(websocket.TextMessage, []byte("x"))
	select {
	case s := <-got:
		if s != (seen{"k", "d", "k", ""}) {
			t.Fatalf("headers seen %+v, want X-Keep in and after OnOpen, X-Drop only in it", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no message")
	}
}
