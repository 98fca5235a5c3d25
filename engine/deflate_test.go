package engine_test

import (
	"bytes"
	"compress/flate"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"edgews/codec"
	"edgews/engine"
	"edgews/engine/enginetest"

	"github.com/gorilla/websocket"
)

// dialDeflate connects to addr and upgrades to path with extra header
// lines (each ending in CRLF); it returns the client and the response head.
func dialDeflate(t testing.TB, addr net.Addr, path, headers string) (*rawClient, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	rc := &rawClient{t: t, conn: conn, br: bufioReader(conn)}
	rc.dec.Role = codec.RoleClient
	rc.dec.MaxFrameSize, rc.dec.MaxMessageSize = 1<<30, 1<<30
	req := strings.Replace(upgradeReq, "%s", path, 1)
	req = req[:len(req)-2] + headers + "\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	head := rc.readHead()
	if !strings.HasPrefix(head, "HTTP/1.1 101 ") {
		t.Fatalf("upgrade answered %q", head)
	}
	rc.dec.Deflate = strings.Contains(head, "\r\nSec-WebSocket-Extensions: permessage-deflate")
	return rc, head
}

// deflated compresses p as a permessage-deflate client does (standard
// library, not the code under test).
func deflated(t testing.TB, p []byte) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	w.Write(p)
	w.Flush()
	return b.Bytes()[:b.Len()-4]
}

// zframe is a masked client frame with RSV1 (compressed) set.
func zframe(fin bool, op codec.OpCode, p []byte) []byte {
	f := frame(fin, op, p)
	f[0] |= 0x40
	return f
}

var chatLine = []byte(strings.Repeat(`{"type":"message","from":"alice","text":"hello there, compressed world"} `, 8))

func TestDeflateNegotiation(t *testing.T) {
	on, _ := echoServer(t, engine.Config{Compression: true})
	off, _ := echoServer(t, engine.Config{})
	const full = "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"
	tests := []struct {
		name    string
		srv     *engine.Server
		headers string
		want    string // extension line in the answer, "" none
	}{
		{"chromium", on, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n", full},
		{"firefox", on, "Sec-WebSocket-Extensions: permessage-deflate\r\n", full},
		{"gorilla", on, "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n", full},
		{"two header lines", on, "Sec-WebSocket-Extensions: x-unknown\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n", full},
		{"window bits", on, "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n",
			strings.TrimSuffix(full, "\r\n") + "; server_max_window_bits=10\r\n"},
		{"declined offer opens uncompressed", on, "Sec-WebSocket-Extensions: permessage-deflate; bogus=1\r\n", ""},
		{"no offer", on, "", ""},
		{"compression off", off, "Sec-WebSocket-Extensions: permessage-deflate\r\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc, head := dialDeflate(t, tc.srv.Addr(), "/echo", tc.headers)
			got := ""
			if i := strings.Index(head, "Sec-WebSocket-Extensions:"); i >= 0 {
				got = head[i:]
				got = got[:strings.Index(got, "\r\n")+2]
			}
			if got != tc.want {
				t.Fatalf("answered %q, want %q", got, tc.want)
			}
			// Either way the connection works.
			rc.write(frame(true, codec.OpText, chatLine))
			ev, err := rc.next(5 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Compressed != (tc.want != "") {
				t.Fatalf("echo compressed = %v", ev.Compressed)
			}
		})
	}
	if n := on.Stats().DeflateConns; n != 5 {
		t.Fatalf("Stats.DeflateConns = %d, want 5", n)
	}
}

// TestDeflateEcho: compressed messages in, fragmented or not, are inflated
// for the handler; the echo goes out compressed above the threshold and
// plain below it, and within the client's window.
func TestDeflateEcho(t *testing.T) {
	srv, _ := echoServer(t, engine.Config{Compression: true, CompressionThreshold: 100})
	inflate := func(t *testing.T, ev codec.Event) string {
		if !ev.Compressed {
			return string(ev.Payload)
		}
		var f codec.Inflater
		p, err := f.Inflate(ev.Payload, ev.Op == codec.OpText, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		return string(p)
	}
	big := bytes.Repeat(chatLine, 30) // 2 KiB+: over a 2^10 window
	z := deflated(t, big)
	tests := []struct {
		name  string
		ext   string // offer parameters
		send  []byte
		want  []byte
		wantZ bool // the echo comes back compressed
	}{
		{name: "compressed in, compressed out", send: zframe(true, codec.OpText, deflated(t, chatLine)), want: chatLine, wantZ: true},
		{name: "plain in, compressed out", send: frame(true, codec.OpText, chatLine), want: chatLine, wantZ: true},
		{name: "under the threshold goes plain", send: zframe(true, codec.OpText, deflated(t, []byte("short"))), want: []byte("short")},
		{name: "binary", send: zframe(true, codec.OpBinary, deflated(t, bytes.Repeat([]byte{0, 1}, 100))), want: bytes.Repeat([]byte{0, 1}, 100), wantZ: true},
		{name: "fragmented", send: append(append(zframe(false, codec.OpText, z[:10]), frame(true, codec.OpPing, nil)...),
			frame(true, codec.OpContinuation, z[10:])...), want: big, wantZ: true},
		{name: "over the client's window goes plain", ext: "; server_max_window_bits=10", send: frame(true, codec.OpText, big), want: big},
		{name: "within the client's window", ext: "; server_max_window_bits=10", send: frame(true, codec.OpText, chatLine), want: chatLine, wantZ: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc, _ := dialDeflate(t, srv.Addr(), "/echo", "Sec-WebSocket-Extensions: permessage-deflate"+tc.ext+"\r\n")
			rc.write(tc.send)
			for {
				ev, err := rc.next(5 * time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if ev.Kind != codec.KindMessage {
					continue // the pong
				}
				if got := inflate(t, ev); got != string(tc.want) {
					t.Fatalf("echo %d bytes, want %d", len(got), len(tc.want))
				}
				if ev.Compressed != tc.wantZ {
					t.Fatalf("echo compressed = %v, want %v", ev.Compressed, tc.wantZ)
				}
				return
			}
		})
	}
}

// TestDeflateProtocolErrors: the rules of RFC 7692 on top of RFC 6455's.
func TestDeflateProtocolErrors(t *testing.T) {
	const limit = 4096
	on, _ := echoServer(t, engine.Config{Compression: true, MaxMessageSize: limit})
	off, _ := echoServer(t, engine.Config{})
	var bomb bytes.Buffer
	w, _ := flate.NewWriter(&bomb, flate.BestSpeed)
	w.Write(make([]byte, 64<<20))
	w.Flush()
	tests := []struct {
		name string
		srv  *engine.Server
		ext  bool
		send []byte
		want codec.StatusCode
	}{
		{"RSV1 when compression is off", off, true, zframe(true, codec.OpText, deflated(t, []byte("hi"))), codec.StatusProtocolError},
		{"RSV1 when the client did not offer", on, false, zframe(true, codec.OpText, deflated(t, []byte("hi"))), codec.StatusProtocolError},
		{"RSV1 on a continuation", on, true, append(frame(false, codec.OpText, []byte("a")), zframe(true, codec.OpContinuation, []byte("b"))...), codec.StatusProtocolError},
		{"RSV1 on a ping", on, true, zframe(true, codec.OpPing, nil), codec.StatusProtocolError},
		{"not deflate", on, true, zframe(true, codec.OpText, []byte{0xff, 0xfe, 0xfd}), codec.StatusProtocolError},
		{"bad UTF-8 once inflated", on, true, zframe(true, codec.OpText, deflated(t, []byte("a\xffb"))), codec.StatusInvalidFramePayloadData},
		{"one byte over the limit once inflated", on, true, zframe(true, codec.OpBinary, deflated(t, make([]byte, limit+1))), codec.StatusMessageTooBig},
		{"deflate bomb", on, true, zframe(true, codec.OpBinary, bomb.Bytes()[:2000]), codec.StatusMessageTooBig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ext := ""
			if tc.ext {
				ext = "Sec-WebSocket-Extensions: permessage-deflate\r\n"
			}
			rc, _ := dialDeflate(t, tc.srv.Addr(), "/echo", ext)
			rc.write(tc.send)
			if code := rc.expectClose(5 * time.Second); code != tc.want {
				t.Fatalf("close code %d, want %d", code, tc.want)
			}
		})
	}
	// The limit holds exactly: a message of limit bytes once inflated passes.
	rc, _ := dialDeflate(t, on.Addr(), "/echo", "Sec-WebSocket-Extensions: permessage-deflate\r\n")
	rc.write(zframe(true, codec.OpBinary, deflated(t, make([]byte, limit))))
	if ev, err := rc.next(5 * time.Second); err != nil || ev.Kind != codec.KindMessage {
		t.Fatalf("message of exactly the limit: %+v, %v", ev.Kind, err)
	}
	enginetest.CheckFor(t, 5*time.Second, func() bool { return on.Stats().InflateErrors == 4 }, "InflateErrors counts the 4 messages that did not inflate")
}

// TestDeflateGorilla: gorilla/websocket with compression on both ways.
func TestDeflateGorilla(t *testing.T) {
	srv, _ := echoServer(t, engine.Config{Compression: true})
	d := websocket.Dialer{EnableCompression: true, HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial(wsURL(srv, "/echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); !strings.HasPrefix(ext, "permessage-deflate") {
		t.Fatalf("extension not negotiated: %q", ext)
	}
	ws.EnableWriteCompression(true)
	for _, msg := range [][]byte{chatLine, []byte("tiny"), bytes.Repeat(chatLine, 300)} {
		if err := ws.WriteMessage(websocket.TextMessage, msg); err != nil {
			t.Fatal(err)
		}
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, got, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("echo of %d bytes came back as %d", len(msg), len(got))
		}
	}
}

// TestDeflateHeldBytes: what permessage-deflate keeps is in the node's
// held bytes: a compressed message still arriving is charged to its
// connection, and the loop's inflate buffers to the node (not to a
// connection) once a message was inflated.
func TestDeflateHeldBytes(t *testing.T) {
	srv, _ := echoServer(t, engine.Config{Compression: true, Loops: 1})
	rc, _ := dialDeflate(t, srv.Addr(), "/echo", "Sec-WebSocket-Extensions: permessage-deflate\r\n")
	// Incompressible bytes, so the compressed fragment is large.
	big := make([]byte, 48<<10)
	for i := range big {
		big[i] = byte(i*7919>>3 ^ i>>11)
	}
	z := deflated(t, big)
	rc.write(zframe(false, codec.OpBinary, z[:len(z)/2]))
	enginetest.CheckFor(t, 5*time.Second, func() bool { return srv.HeldBytes() >= int64(len(z)/2) }, "the compressed fragment charged")
	rc.write(frame(true, codec.OpContinuation, z[len(z)/2:]))
	if ev, err := rc.next(5 * time.Second); err != nil || ev.Kind != codec.KindMessage {
		t.Fatalf("echo: %v %v", ev.Kind, err)
	}
	// The connection holds nothing now; the loop keeps its inflate buffers
	// (at least the copy of the compressed message) up to 64 KiB each.
	enginetest.CheckFor(t, 5*time.Second, func() bool {
		h := srv.HeldBytes()
		return h >= int64(len(z)) && h <= 3*64<<10
	}, "the loop's inflate buffers charged")
}

// TestDeflateOnlyWhenNegotiated: with every message compressed (a negative
// CompressionThreshold, which wsnode --compression-threshold 0 sets), a
// connection that did not negotiate permessage-deflate still gets only
// plain frames, an empty message included (an empty payload is within a
// window of 0, which is what DeflateWindow says for such a connection).
// The client's decoder is strict: RSV1 without the extension fails it.
func TestDeflateOnlyWhenNegotiated(t *testing.T) {
	srv, _ := echoServer(t, engine.Config{Compression: true, CompressionThreshold: -1})
	for _, p := range [][]byte{nil, []byte("x"), chatLine} {
		for _, op := range []codec.OpCode{codec.OpText, codec.OpBinary} {
			plain := dialRaw(t, srv.Addr(), "/echo")
			plain.write(frame(true, op, p))
			ev, err := plain.next(5 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Kind != codec.KindMessage || ev.Compressed || string(ev.Payload) != string(p) {
				t.Fatalf("%d-byte op %d echoed to a plain client as %+v", len(p), op, ev)
			}
			// The same message to a client that negotiated it comes back
			// compressed: the threshold is in force.
			z, _ := dialDeflate(t, srv.Addr(), "/echo", "Sec-WebSocket-Extensions: permessage-deflate\r\n")
			z.write(frame(true, op, p))
			if ev, err = z.next(5 * time.Second); err != nil {
				t.Fatal(err)
			}
			if !ev.Compressed {
				t.Fatalf("%d-byte op %d echoed plain to a deflate client with every message compressed", len(p), op)
			}
		}
	}
}
