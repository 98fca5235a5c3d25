// Package conformance checks that a peer answers /echo and /chat exactly as
// the node does. Each peer package runs it from its own test:
//
//	func TestConformance(t *testing.T) { conformance.Run(t, gorillapeer.Serve) }
//
// Every server listens on 127.0.0.1 port 0 and is stopped by t.Cleanup.
package conformance

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"edgews/bench/peers/internal/route"
)

// Serve starts a peer on ln and returns its stop func.
type Serve func(ln net.Listener) (stop func(), err error)

// ioTimeout bounds every single read or write of the tests.
const ioTimeout = 10 * time.Second

// Start runs serve on a fresh loopback listener and returns the address.
func Start(t *testing.T, serve Serve) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop, err := serve(ln)
	if err != nil {
		_ = ln.Close()
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return ln.Addr().String()
}

// Dial opens a client on ws://addr+path and closes it at cleanup.
func Dial(t *testing.T, addr, path string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: ioTimeout}
	c, resp, err := d.Dial("ws://"+addr+path, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("dial %s: status %d", path, resp.StatusCode)
	}
	c.SetReadLimit(2 * route.MaxMessageSize)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Read reads one message with a deadline.
func Read(t *testing.T, c *websocket.Conn) (int, []byte) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
	mt, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return mt, data
}

// Write writes one message with a deadline.
func Write(t *testing.T, c *websocket.Conn, mt int, data []byte) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(ioTimeout))
	if err := c.WriteMessage(mt, data); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// Quirks lists known library behaviours that differ from the node and
// cannot be changed through the library's API.
type Quirks struct {
	// DropsEmptyMessages: a zero-length text or binary message never
	// reaches the handler, so /echo does not answer it.
	DropsEmptyMessages bool
	// Unordered: messages of one connection may be handled out of order
	// (gws with ParallelEnabled), so the pipelined order check is skipped.
	Unordered bool
	// NoOutboundLimit: the library queues without bound for a reader that
	// stalls (gws), so no slow-consumer drop is expected.
	NoOutboundLimit bool
}

// Run runs every conformance check against serve, each on a fresh server.
func Run(t *testing.T, serve Serve, q Quirks) {
	t.Run("echo", func(t *testing.T) { testEcho(t, serve, q) })
	t.Run("echo_order", func(t *testing.T) {
		if q.Unordered {
			t.Skip("known quirk: messages of one connection may be reordered")
		}
		testEchoOrder(t, serve)
	})
	t.Run("ping", func(t *testing.T) { testPing(t, serve) })
	t.Run("chat", func(t *testing.T) { testChat(t, serve) })
	t.Run("chat_slow_consumer", func(t *testing.T) {
		if q.NoOutboundLimit {
			t.Skip("known quirk: no outbound limit, a stalled reader is never dropped")
		}
		testSlowConsumer(t, serve)
	})
}

func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + (seed+byte(i))%26 // ASCII, so valid UTF-8 for text
	}
	return b
}

func testEcho(t *testing.T, serve Serve, q Quirks) {
	addr := Start(t, serve)
	c := Dial(t, addr, route.EchoPath)
	for _, mt := range []int{websocket.TextMessage, websocket.BinaryMessage} {
		for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 1 << 20} {
			if n == 0 && q.DropsEmptyMessages {
				t.Logf("opcode %d size 0: skipped, known quirk: empty messages are dropped", mt)
				continue
			}
			want := payload(n, byte(n))
			Write(t, c, mt, want)
			gotType, got := Read(t, c)
			if gotType != mt {
				t.Fatalf("size %d: opcode %d, want %d", n, gotType, mt)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("size %d opcode %d: echoed %d bytes that differ", n, mt, len(got))
			}
		}
	}
}

// testEchoOrder pipelines messages and expects them back in order.
func testEchoOrder(t *testing.T, serve Serve) {
	addr := Start(t, serve)
	c := Dial(t, addr, route.EchoPath)
	const n = 200
	errc := make(chan error, 1)
	go func() {
		for i := range n {
			mt := websocket.TextMessage
			if i%2 == 1 {
				mt = websocket.BinaryMessage
			}
			_ = c.SetWriteDeadline(time.Now().Add(ioTimeout))
			if err := c.WriteMessage(mt, []byte(strconv.Itoa(i))); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for i := range n {
		mt, got := Read(t, c)
		wantType := websocket.TextMessage
		if i%2 == 1 {
			wantType = websocket.BinaryMessage
		}
		if mt != wantType || string(got) != strconv.Itoa(i) {
			t.Fatalf("message %d: got opcode %d %q, want opcode %d %q", i, mt, got, wantType, strconv.Itoa(i))
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// testPing expects a pong carrying the ping's payload, before the echo of
// a message sent after the ping.
func testPing(t *testing.T, serve Serve) {
	addr := Start(t, serve)
	c := Dial(t, addr, route.EchoPath)
	pongs := make(chan string, 1)
	c.SetPongHandler(func(s string) error { pongs <- s; return nil })
	if err := c.WriteControl(websocket.PingMessage, []byte("ping-1"), time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	Write(t, c, websocket.TextMessage, []byte("after ping"))
	if _, got := Read(t, c); string(got) != "after ping" {
		t.Fatalf("echo after ping: %q", got)
	}
	select {
	case s := <-pongs:
		if s != "ping-1" {
			t.Fatalf("pong payload %q, want %q", s, "ping-1")
		}
	default:
		t.Fatal("no pong before the echo")
	}
}

var lineRE = regexp.MustCompile(`^\[user(\d+)\]: (.*)$`)

// readLine reads one chat line and returns its user number and text.
func readLine(t *testing.T, c *websocket.Conn) (int, string) {
	t.Helper()
	mt, data := Read(t, c)
	if mt != websocket.TextMessage {
		t.Fatalf("chat: opcode %d, want text", mt)
	}
	m := lineRE.FindStringSubmatch(string(data))
	if m == nil {
		t.Fatalf("chat: unexpected line %q", data)
	}
	id, _ := strconv.Atoi(m[1])
	return id, m[2]
}

func greeting(n int) string { return string(route.Greeting(n)) }

func testChat(t *testing.T, serve Serve) {
	addr := Start(t, serve)

	// Three users join one after the other; each greeting counts everyone.
	var cs []*websocket.Conn
	for i := range 3 {
		c := Dial(t, addr, route.ChatPath)
		if _, got := Read(t, c); string(got) != greeting(i+1) {
			t.Fatalf("user %d greeting %q, want %q", i, got, greeting(i+1))
		}
		cs = append(cs, c)
	}
	if got, want := greeting(3), "You are connected! There are 3 users here."; got != want {
		t.Fatalf("greeting text %q, want %q", got, want)
	}

	// Each user speaks in turn; everyone, sender included, gets the line.
	ids := make([]int, len(cs))
	for i, sender := range cs {
		text := fmt.Sprintf("hello from %d: ünïcode ok", i)
		Write(t, sender, websocket.TextMessage, []byte(text))
		for j, c := range cs {
			id, got := readLine(t, c)
			if got != text {
				t.Fatalf("user %d got %q, want %q", j, got, text)
			}
			if j == 0 {
				ids[i] = id
			} else if id != ids[i] {
				t.Fatalf("user %d saw sender as user%d, user 0 saw user%d", j, id, ids[i])
			}
		}
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("user numbers %v are not distinct and increasing", ids)
		}
	}
	if ids[0] != 0 {
		t.Fatalf("first user of a fresh server is user%d, want user0", ids[0])
	}

	// Binary frames are ignored; the next text still arrives.
	Write(t, cs[0], websocket.BinaryMessage, []byte("binary is ignored"))
	Write(t, cs[0], websocket.TextMessage, []byte("after binary"))
	for _, c := range cs {
		if _, got := readLine(t, c); got != "after binary" {
			t.Fatalf("after binary: got %q", got)
		}
	}

	// User 1 vanishes without a close frame; the others keep chatting.
	_ = cs[1].NetConn().Close()
	alive := []*websocket.Conn{cs[0], cs[2]}
	for round := range 3 {
		text := fmt.Sprintf("still here %d", round)
		Write(t, cs[2], websocket.TextMessage, []byte(text))
		for _, c := range alive {
			id, got := readLine(t, c)
			if id != ids[2] || got != text {
				t.Fatalf("after disconnect: got user%d %q, want user%d %q", id, got, ids[2], text)
			}
		}
	}

	// The server drops the dead user: a newcomer eventually counts 3.
	waitUsers(t, addr, 2)
}

// waitUsers polls until a newcomer's greeting counts n other users.
func waitUsers(t *testing.T, addr string, n int) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for {
		probe := Dial(t, addr, route.ChatPath)
		_, got := Read(t, probe)
		_ = probe.Close()
		if string(got) == greeting(n+1) {
			return
		}
		if !strings.HasPrefix(string(got), "You are connected! There are ") || time.Now().After(deadline) {
			t.Fatalf("probe greeting %q, want %q", got, greeting(n+1))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testSlowConsumer: a user that never reads is dropped once its backlog
// passes the outbound budget, and the reader keeps getting every line.
func testSlowConsumer(t *testing.T, serve Serve) {
	addr := Start(t, serve)
	reader := Dial(t, addr, route.ChatPath)
	Read(t, reader) // greeting
	stalled := Dial(t, addr, route.ChatPath)
	// The stalled user reads nothing, not even its greeting; shrink its
	// receive buffer so the kernel soaks up less before the server queues.
	if tc, ok := stalled.NetConn().(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}

	// Well past kernel buffers plus route.MaxOutboundBytes.
	const size, count = 256 << 10, 160
	text := payload(size, 7)
	want := append([]byte("[user0]: "), text...)
	// Lockstep, so only the stalled user builds a backlog.
	for i := range count {
		Write(t, reader, websocket.TextMessage, text)
		if _, got := Read(t, reader); !bytes.Equal(got, want) {
			t.Fatalf("line %d: %d bytes, not the %d sent", i, len(got), len(want))
		}
	}
	waitUsers(t, addr, 1)
}

// RunCompressed checks a peer started with compression on: a gorilla
// client with EnableCompression negotiates permessage-deflate on /echo and
// /chat, a compressed message is echoed intact, and a chat line reaches
// its sender.
func RunCompressed(t *testing.T, serve Serve) {
	addr := Start(t, serve)
	line := strings.Repeat("compressed chat line, repeated words compress well; ", 40)
	for _, path := range []string{route.EchoPath, route.ChatPath} {
		d := websocket.Dialer{HandshakeTimeout: ioTimeout, EnableCompression: true}
		c, resp, err := d.Dial("ws://"+addr+path, nil)
		if err != nil {
			t.Fatalf("dial %s: %v", path, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if ext := resp.Header.Get("Sec-WebSocket-Extensions"); !strings.HasPrefix(ext, "permessage-deflate") {
			t.Fatalf("%s: extension %q, want permessage-deflate", path, ext)
		}
		if err := c.WriteMessage(websocket.TextMessage, []byte(line)); err != nil {
			t.Fatal(err)
		}
		for {
			_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
			_, p, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if strings.HasSuffix(string(p), line) {
				break // the echo, or the chat line after the greeting
			}
		}
	}
}
