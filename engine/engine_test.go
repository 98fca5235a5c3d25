package engine_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"edgews/codec"
	"edgews/engine"
	"edgews/engine/enginetest"
	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, ignoreGnet()...) }

// ignoreGnet skips the goroutines gnet keeps for the life of the process.
func ignoreGnet() []goleak.Option {
	var opts []goleak.Option
	for _, f := range engine.ProcessGoroutines() {
		opts = append(opts, goleak.IgnoreTopFunction(f))
	}
	return opts
}

func echoServer(t testing.TB, cfg engine.Config) (*engine.Server, *recorder) {
	rec := &recorder{}
	srv := startServer(t, cfg, func(s *engine.Server) {
		s.Handle("/echo", rec)
		s.HandleHTTP("/healthz", func(*engine.Request) engine.Response {
			return engine.Response{Body: []byte("ok\n")}
		})
	})
	return srv, rec
}

func wsURL(srv *engine.Server, path string) string { return "ws://" + srv.Addr().String() + path }

func TestHandshakeRefusals(t *testing.T) {
	srv, rec := echoServer(t, engine.Config{MaxHeaderBytes: 1024})
	const good = "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	tests := []struct {
		name       string
		req        string
		wantStatus string
		wantHeader string
	}{
		{"wrong method", "POST /echo HTTP/1.1\r\n" + good + "\r\n", "405", "Allow: GET"},
		{"unknown path", "GET /nope HTTP/1.1\r\n" + good + "\r\n", "404", ""},
		{"no upgrade header", "GET /echo HTTP/1.1\r\n" + strings.Replace(good, "Upgrade: websocket\r\n", "", 1) + "\r\n", "400", ""},
		{"upgrade not websocket", "GET /echo HTTP/1.1\r\n" + strings.Replace(good, "Upgrade: websocket", "Upgrade: h2c", 1) + "\r\n", "400", ""},
		{"no connection upgrade", "GET /echo HTTP/1.1\r\n" + strings.Replace(good, "Connection: Upgrade", "Connection: keep-alive", 1) + "\r\n", "400", ""},
		{"missing key", "GET /echo HTTP/1.1\r\n" + strings.Replace(good, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "", 1) + "\r\n", "400", ""},
		{"key not 16 bytes", "GET /echo HTTP/1.1\r\n" + strings.Replace(good, "dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=", 1) + "\r\n", "400", ""},
		{"key not base64", "GET /echo HTTP/1.1\r\n" + strings.Replace(good, "dGhlIHNhbXBsZSBub25jZQ==", "!!!!!!!!!!!!!!!!!!!!!!==", 1) + "\r\n", "400", ""},
		{"wrong version", "GET /echo HTTP/1.1\r\n" + strings.Replace(good, "Version: 13", "Version: 8", 1) + "\r\n", "426", "Sec-Websocket-Version: 13"},
		{"http/1.0", "GET /echo HTTP/1.0\r\n" + good + "\r\n", "505", ""},
		{"no host", "GET /echo HTTP/1.1\r\n" + strings.Replace(good, "Host: x\r\n", "", 1) + "\r\n", "400", ""},
		{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", "400", ""},
		{"header too large, complete", "GET /echo HTTP/1.1\r\n" + good + "X-Pad: " + strings.Repeat("a", 2000) + "\r\n\r\n", "431", ""},
		{"header too large, unterminated", "GET /echo HTTP/1.1\r\n" + good + "X-Pad: " + strings.Repeat("a", 2000), "431", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", srv.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tt.req); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := io.ReadAll(conn) // the server closes after answering
			if err != nil && len(resp) == 0 {
				t.Fatalf("read: %v", err)
			}
			head := string(resp)
			if !strings.HasPrefix(head, "HTTP/1.1 "+tt.wantStatus+" ") {
				t.Fatalf("response %q, want status %s", head, tt.wantStatus)
			}
			if tt.wantHeader != "" && !strings.Contains(strings.ToLower(head), strings.ToLower(tt.wantHeader)) {
				t.Fatalf("response %q lacks %q", head, tt.wantHeader)
			}
			if !strings.Contains(head, "Connection: close") {
				t.Fatalf("response %q does not say it closes", head)
			}
		})
	}
	if n := rec.count("open"); n != 0 {
		t.Fatalf("%d refused requests reached OnOpen", n)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	srv, _ := echoServer(t, engine.Config{HandshakeTimeout: 200 * time.Millisecond})
	conn, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "GET /echo HTTP/1.1\r\nHost: x\r\n") // never finished
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err = conn.Read(make([]byte, 1))
	if err == nil {
		t.Fatal("read data from a connection that never upgraded")
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("connection not closed by the handshake timeout")
	}
	if time.Since(start) < 100*time.Millisecond {
		t.Fatalf("closed after %v, before the handshake timeout", time.Since(start))
	}
}

func TestHTTPRoute(t *testing.T) {
	srv, _ := echoServer(t, engine.Config{})
	resp, err := http.Get("http://" + srv.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Fatalf("GET /healthz = %d %q", resp.StatusCode, body)
	}
	http.DefaultClient.CloseIdleConnections()
}

// The request arrives in pieces, and the first frame arrives in the same
// segment as the request's last bytes.
func TestHandshakeInPiecesWithTrailingFrame(t *testing.T) {
	srv, _ := echoServer(t, engine.Config{})
	conn, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := []byte(strings.Replace(upgradeReq, "%s", "/echo", 1))
	msg := frame(true, codec.OpText, []byte("right after the request"))
	all := append(append([]byte{}, req[:len(req)-3]...), append(req[len(req)-3:], msg...)...)
	for i := 0; i < len(req)-3; i += 7 {
		end := min(i+7, len(req)-3)
		if _, err := conn.Write(all[i:end]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // separate segments
	}
	if _, err := conn.Write(all[len(req)-3:]); err != nil {
		t.Fatal(err)
	}
	rc := &rawClient{t: t, conn: conn}
	rc.br = bufioReader(conn)
	rc.dec.Role = codec.RoleClient
	if head := rc.readHead(); !strings.HasPrefix(head, "HTTP/1.1 101 ") || !strings.Contains(head, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") {
		t.Fatalf("upgrade response %q", head)
	}
	ev, err := rc.next(5 * time.Second)
	if err != nil || ev.Kind != codec.KindMessage || string(ev.Payload) != "right after the request" {
		t.Fatalf("echo = %+v, %v", ev, err)
	}
}

func TestEchoSizes(t *testing.T) {
	srv, _ := echoServer(t, engine.Config{MaxFrameSize: 1 << 20})
	c, _, err := websocket.DefaultDialer.Dial(wsURL(srv, "/echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, n := range []int{0, 125, 126, 65535, 65536, 1 << 20} {
		for _, mt := range []int{websocket.TextMessage, websocket.BinaryMessage} {
			p := bytes.Repeat([]byte("abcdefghij"), n/10+1)[:n]
			if err := c.WriteMessage(mt, p); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			gotT, got, err := c.ReadMessage()
			if err != nil || gotT != mt || !bytes.Equal(got, p) {
				t.Fatalf("size %d type %d: got type %d len %d err %v", n, mt, gotT, len(got), err)
			}
		}
	}
}

func TestFramesByteByByte(t *testing.T) {
	srv, rec := echoServer(t, engine.Config{})
	rc := dialRaw(t, srv.Addr(), "/echo")
	var stream []byte
	stream = append(stream, frame(true, codec.OpText, []byte("one"))...)
	stream = append(stream, frame(true, codec.OpBinary, bytes.Repeat([]byte{7}, 300))...)
	stream = append(stream, frame(false, codec.OpText, []byte("fr"))...)
	stream = append(stream, frame(true, codec.OpPing, []byte("p"))...)
	stream = append(stream, frame(true, codec.OpContinuation, []byte("ag"))...)
	for i := range stream {
		rc.write(stream[i : i+1])
	}
	want := []struct {
		kind codec.Kind
		data string
	}{{codec.KindMessage, "one"}, {codec.KindMessage, string(bytes.Repeat([]byte{7}, 300))}, {codec.KindPong, "p"}, {codec.KindMessage, "frag"}}
	for _, w := range want {
		ev, err := rc.next(5 * time.Second)
		if err != nil || ev.Kind != w.kind || string(ev.Payload) != w.data {
			t.Fatalf("got %v %q %v, want %v %q", ev.Kind, ev.Payload, err, w.kind, w.data)
		}
	}
	if n := rec.count("msg"); n != 3 {
		t.Fatalf("OnMessage called %d times, want 3", n)
	}
}

func TestFragmentedWithPingInTheMiddle(t *testing.T) {
	srv, _ := echoServer(t, engine.Config{})
	rc := dialRaw(t, srv.Addr(), "/echo")
	var b []byte
	b = append(b, frame(false, codec.OpText, []byte("héllo, "))...)
	b = append(b, frame(true, codec.OpPing, []byte("mid"))...)
	b = append(b, frame(false, codec.OpContinuation, []byte("wor"))...)
	b = append(b, frame(true, codec.OpContinuation, []byte("ld"))...)
	rc.write(b)
	ev, err := rc.next(5 * time.Second)
	if err != nil || ev.Kind != codec.KindPong || string(ev.Payload) != "mid" {
		t.Fatalf("first reply %v %q %v, want the pong", ev.Kind, ev.Payload, err)
	}
	ev, err = rc.next(5 * time.Second)
	if err != nil || ev.Kind != codec.KindMessage || ev.Op != codec.OpText || string(ev.Payload) != "héllo, world" {
		t.Fatalf("message %v %q %v", ev.Kind, ev.Payload, err)
	}
}

func TestServerPingAndClientPong(t *testing.T) {
	srv, _ := echoServer(t, engine.Config{PingPeriod: 50 * time.Millisecond, Timeout: 10 * time.Second})
	c, _, err := websocket.DefaultDialer.Dial(wsURL(srv, "/echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pings := make(chan struct{}, 16)
	c.SetPingHandler(func(string) error {
		select {
		case pings <- struct{}{}:
		default:
		}
		return c.WriteControl(websocket.PongMessage, nil, time.Now().Add(time.Second))
	})
	pongs := make(chan string, 1)
	c.SetPongHandler(func(s string) error { pongs <- s; return nil })
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	if err := c.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-pongs:
		if s != "are you there" {
			t.Fatalf("pong payload %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong for the client's ping")
	}
	for i := 0; i < 2; i++ {
		select {
		case <-pings:
		case <-time.After(5 * time.Second):
			t.Fatal("no server ping")
		}
	}
}

func TestIdleTimeoutClose(t *testing.T) {
	srv, rec := echoServer(t, engine.Config{Timeout: 300 * time.Millisecond, CloseTimeout: 300 * time.Millisecond})
	rc := dialRaw(t, srv.Addr(), "/echo")
	start := time.Now()
	if code := rc.expectClose(5 * time.Second); code != codec.StatusGoingAway {
		t.Fatalf("close code %d, want 1001", code)
	}
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Fatalf("closed after %v, before the timeout", el)
	}
	// The client does not answer the close: TCP is closed after CloseTimeout.
	rc.expectEOF(5 * time.Second)
	enginetest.CheckFor(t, 5*time.Second, func() bool { return len(rec.closes()) == 1 }, "OnClose")
	if got := rec.closes()[0].code; got != codec.StatusGoingAway {
		t.Fatalf("OnClose code %d", got)
	}
}

func TestProtocolErrorCloses(t *testing.T) {
	// A long CloseTimeout, so a server that missed the client's close frame
	// would be caught by the elapsed-time check below.
	srv, rec := echoServer(t, engine.Config{MaxFrameSize: 1000, MaxMessageSize: 1500, CloseTimeout: 10 * time.Second})
	mask := [4]byte{1, 2, 3, 4}
	tests := []struct {
		name  string
		send  []byte // sent first; the close must come back before any more
		after []byte // the rest a real client would still send
		want  codec.StatusCode
	}{
		{"frame too big", codec.AppendHeader(nil, true, codec.OpBinary, 1001, &mask), make([]byte, 1001), codec.StatusMessageTooBig},
		{"message too big", append(frame(false, codec.OpBinary, make([]byte, 900)), codec.AppendHeader(nil, true, codec.OpContinuation, 900, &mask)...), make([]byte, 900), codec.StatusMessageTooBig},
		{"invalid utf-8", frame(true, codec.OpText, []byte{'a', 0xff, 'b'}), nil, codec.StatusInvalidFramePayloadData},
		{"invalid utf-8 in a fragment", frame(false, codec.OpText, []byte{'a', 0xc0, 'b'}), frame(true, codec.OpContinuation, []byte("ok")), codec.StatusInvalidFramePayloadData},
		{"unmasked", codec.AppendFrame(nil, true, codec.OpText, []byte("x"), nil), nil, codec.StatusProtocolError},
		{"reserved opcode", frame(true, codec.OpCode(3), nil), nil, codec.StatusProtocolError},
		{"continuation without start", frame(true, codec.OpContinuation, []byte("x")), nil, codec.StatusProtocolError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, srv.Addr(), "/echo")
			rc.write(tt.send)
			if code := rc.expectClose(5 * time.Second); code != tt.want {
				t.Fatalf("close code %d, want %d", code, tt.want)
			}
			// The client finishes what it was sending and answers the close;
			// the server skips the rest, sees the close and closes TCP.
			start := time.Now()
			rc.write(append(tt.after, codec.AppendClose(nil, tt.want, "", &[4]byte{9, 9, 9, 9})...))
			rc.expectEOF(5 * time.Second)
			if el := time.Since(start); el > 2*time.Second {
				t.Fatalf("TCP closed after %v: the client's close frame was missed", el)
			}
		})
	}
	enginetest.CheckFor(t, 5*time.Second, func() bool { return len(rec.closes()) == len(tests) }, "OnClose for every connection")
	for _, e := range rec.closes() {
		if e.code < 1002 || e.code > 1009 {
			t.Fatalf("OnClose code %d", e.code)
		}
	}
}

func TestPerConnectionMaxFrameSize(t *testing.T) {
	rec := &recorder{configure: func(c *engine.Conn) {
		if c.Request().Query("small") == "1" {
			c.SetMaxFrameSize(10)
		}
	}}
	srv := startServer(t, engine.Config{}, func(s *engine.Server) { s.Handle("/echo", rec) })
	big := dialRaw(t, srv.Addr(), "/echo")
	big.write(frame(true, codec.OpText, []byte("more than ten bytes")))
	if ev, err := big.next(5 * time.Second); err != nil || string(ev.Payload) != "more than ten bytes" {
		t.Fatalf("default limit: %v %q", err, ev.Payload)
	}
	small := dialRaw(t, srv.Addr(), "/echo?small=1")
	small.write(frame(true, codec.OpText, []byte("more than ten bytes")))
	if code := small.expectClose(5 * time.Second); code != codec.StatusMessageTooBig {
		t.Fatalf("close %d, want 1009", code)
	}
}

func TestCloseHandshakeFromClient(t *testing.T) {
	srv, rec := echoServer(t, engine.Config{})
	rc := dialRaw(t, srv.Addr(), "/echo")
	rc.write(codec.AppendClose(nil, 4001, "done", &[4]byte{1, 2, 3, 4}))
	if code := rc.expectClose(5 * time.Second); code != 4001 {
		t.Fatalf("server answered close %d, want the client's 4001", code)
	}
	rc.expectEOF(5 * time.Second)
	enginetest.CheckFor(t, 5*time.Second, func() bool { return len(rec.closes()) == 1 }, "OnClose")
	if e := rec.closes()[0]; e.code != 4001 || e.data != "done" {
		t.Fatalf("OnClose(%d, %q)", e.code, e.data)
	}
}

func TestAbruptDisconnectReports1006(t *testing.T) {
	srv, rec := echoServer(t, engine.Config{})
	rc := dialRaw(t, srv.Addr(), "/echo")
	rc.conn.Close()
	enginetest.CheckFor(t, 5*time.Second, func() bool { return len(rec.closes()) == 1 }, "OnClose")
	if got := rec.closes()[0].code; got != 1006 {
		t.Fatalf("OnClose code %d, want 1006", got)
	}
	enginetest.CheckFor(t, 5*time.Second, func() bool { return srv.OpenConns() == 0 }, "open count back to 0")
}

// A peer that stops reading is closed once its pending output passes
// MaxOutboundBytes; the others keep being served.
func TestSlowConsumerEvicted(t *testing.T) {
	rec := &recorder{onMessage: func(c *engine.Conn, op codec.OpCode, p []byte) bool {
		if string(p) != "flood" {
			return false
		}
		chunk := make([]byte, 64<<10)
		for i := 0; i < 64 && c.Open(); i++ { // 4 MiB against a 256 KiB bound
			_ = c.Send(codec.OpBinary, chunk)
		}
		return true
	}}
	srv := startServer(t, engine.Config{MaxOutboundBytes: 256 << 10, SocketSendBuffer: 16 << 10}, func(s *engine.Server) { s.Handle("/echo", rec) })
	slow := dialRaw(t, srv.Addr(), "/echo")
	_ = slow.conn.(*net.TCPConn).SetReadBuffer(16 << 10)
	slow.write(frame(true, codec.OpText, []byte("flood"))) // and never read
	enginetest.CheckFor(t, 10*time.Second, func() bool { return len(rec.closes()) == 1 }, "the slow consumer's OnClose")
	if got := rec.closes()[0]; got.code != codec.StatusPolicyViolation {
		t.Fatalf("OnClose code %d, want 1008", got.code)
	}
	ok := dialRaw(t, srv.Addr(), "/echo")
	ok.write(frame(true, codec.OpText, []byte("still here")))
	if ev, err := ok.next(5 * time.Second); err != nil || string(ev.Payload) != "still here" {
		t.Fatalf("other connection: %v %q", err, ev.Payload)
	}
}

// A frame much larger than MaxOutboundBytes (and than the socket's
// buffers), then more frames, to a client that reads: it gets them all,
// and is not closed as a slow consumer while it reads the big one.
func TestOversizedFrameOverSocket(t *testing.T) {
	const big, small, n = 2 << 20, 1000, 50
	rec := &recorder{onMessage: func(c *engine.Conn, op codec.OpCode, p []byte) bool {
		if string(p) != "big" {
			return false
		}
		_ = c.Send(codec.OpBinary, make([]byte, big))
		for i := 0; i < n; i++ {
			_ = c.Send(codec.OpBinary, make([]byte, small))
		}
		return true
	}}
	srv := startServer(t, engine.Config{MaxOutboundBytes: 256 << 10, SocketSendBuffer: 16 << 10}, func(s *engine.Server) { s.Handle("/echo", rec) })
	rc := dialRaw(t, srv.Addr(), "/echo")
	_ = rc.conn.(*net.TCPConn).SetReadBuffer(16 << 10)
	rc.write(frame(true, codec.OpText, []byte("big")))
	for i := 0; i <= n; i++ {
		ev, err := rc.next(10 * time.Second)
		if err != nil || ev.Kind != codec.KindMessage {
			t.Fatalf("frame %d: %v, %v (SlowConsumers %d)", i, err, ev.Kind, srv.Stats().SlowConsumers)
		}
		if want := map[bool]int{true: big, false: small}[i == 0]; len(ev.Payload) != want {
			t.Fatalf("frame %d: %d bytes, want %d", i, len(ev.Payload), want)
		}
	}
	if n := srv.Stats().SlowConsumers; n != 0 {
		t.Fatalf("SlowConsumers = %d", n)
	}
}

// No goroutine per connection: 2,000 open connections add none.
func TestGoroutinesDoNotGrowWithConnections(t *testing.T) {
	srv, _ := echoServer(t, engine.Config{})
	// Warm up: the first connection lets gnet start what it starts lazily.
	first := dialRaw(t, srv.Addr(), "/echo")
	first.write(frame(true, codec.OpText, []byte("warm")))
	if _, err := first.next(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	before := runtime.NumGoroutine()
	const n = 2000
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	req := []byte(strings.Replace(upgradeReq, "%s", "/echo", 1))
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", srv.Addr().String())
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 4096)
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		k, err := c.Read(buf)
		if err != nil || !bytes.HasPrefix(buf[:k], []byte("HTTP/1.1 101")) {
			t.Fatalf("conn %d: %q %v", i, buf[:k], err)
		}
	}
	enginetest.CheckFor(t, 5*time.Second, func() bool { return srv.OpenConns() == n+1 }, fmt.Sprintf("%d open connections", n+1))
	after := runtime.NumGoroutine()
	t.Logf("goroutines: %d before, %d with %d more connections", before, after, n)
	if after-before > 5 {
		t.Fatalf("goroutines grew from %d to %d with %d connections", before, after, n)
	}
}
