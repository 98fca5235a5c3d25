package engine_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"edgews/codec"
	"edgews/engine"
	"edgews/engine/enginetest"
)

// startServer runs a server on 127.0.0.1:0 with 2 loops until the test ends.
func startServer(t testing.TB, cfg engine.Config, setup func(*engine.Server)) *engine.Server {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	srv := engine.New(cfg)
	setup(srv)
	enginetest.Start(t, srv)
	return srv
}

// event is one handler callback, as recorded by recorder.
type event struct {
	kind string // open, msg, close
	op   codec.OpCode
	data string
	code codec.StatusCode
}

// recorder is an echo handler that records its callbacks; configure, if
// set, runs in OnOpen (per-connection overrides).
type recorder struct {
	mu        sync.Mutex
	events    []event
	configure func(c *engine.Conn)
	onMessage func(c *engine.Conn, op codec.OpCode, p []byte) bool // true: handled, do not echo
}

func (r *recorder) add(e event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) OnOpen(c *engine.Conn) {
	if r.configure != nil {
		r.configure(c)
	}
	r.add(event{kind: "open"})
}

func (r *recorder) OnMessage(c *engine.Conn, op codec.OpCode, p []byte) {
	r.add(event{kind: "msg", op: op, data: string(p)})
	if r.onMessage != nil && r.onMessage(c, op, p) {
		return
	}
	_ = c.Send(op, p)
}

func (r *recorder) OnClose(c *engine.Conn, code codec.StatusCode, reason string) {
	r.add(event{kind: "close", code: code, data: reason})
}

func (r *recorder) closes() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event
	for _, e := range r.events {
		if e.kind == "close" {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) count(kind string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.kind == kind {
			n++
		}
	}
	return n
}

const upgradeReq = "GET %s HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// rawClient is a hand-driven WebSocket client over a plain TCP connection.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
	dec  codec.Decoder
	buf  []byte
}

// dialRaw connects to addr and completes the upgrade to path.
func dialRaw(t testing.TB, addr net.Addr, path string) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return upgradeRaw(t, conn, path)
}

// upgradeRaw completes the upgrade to path on conn (plain TCP, or a TLS
// connection).
func upgradeRaw(t testing.TB, conn net.Conn, path string) *rawClient {
	t.Helper()
	t.Cleanup(func() { conn.Close() })
	rc := &rawClient{t: t, conn: conn, br: bufio.NewReader(conn)}
	rc.dec.Role = codec.RoleClient
	rc.dec.MaxFrameSize, rc.dec.MaxMessageSize = 1<<30, 1<<30
	if _, err := io.WriteString(conn, strings.Replace(upgradeReq, "%s", path, 1)); err != nil {
		t.Fatal(err)
	}
	if status := rc.readHead(); !strings.HasPrefix(status, "HTTP/1.1 101 ") {
		t.Fatalf("upgrade answered %q", status)
	}
	return rc
}

// readHead reads an HTTP response head and returns it.
func (rc *rawClient) readHead() string {
	rc.t.Helper()
	_ = rc.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var head strings.Builder
	for {
		line, err := rc.br.ReadString('\n')
		if err != nil {
			rc.t.Fatalf("reading response head: %v (so far %q)", err, head.String())
		}
		head.WriteString(line)
		if line == "\r\n" {
			return head.String()
		}
	}
}

// frame encodes a masked client frame.
func frame(fin bool, op codec.OpCode, p []byte) []byte {
	m := codec.NewMask()
	return codec.AppendFrame(nil, fin, op, p, &m)
}

func (rc *rawClient) write(b []byte) {
	rc.t.Helper()
	if _, err := rc.conn.Write(b); err != nil {
		rc.t.Fatal(err)
	}
}

// next reads the next server frame (as an event); io.EOF when TCP closed.
func (rc *rawClient) next(timeout time.Duration) (codec.Event, error) {
	rc.t.Helper()
	_ = rc.conn.SetReadDeadline(time.Now().Add(timeout))
	ev, err := nextFrame(rc.br, &rc.dec, &rc.buf)
	if errors.Is(err, errBadFrame) {
		rc.t.Fatal(err)
	}
	return ev, err
}

var errBadFrame = errors.New("server sent an invalid frame")

// nextFrame decodes the next frame from buf, reading more from br as
// needed; the event's payload and reason are copies. An invalid frame is
// errBadFrame; a read error (the deadline, EOF) is returned as is.
func nextFrame(br *bufio.Reader, dec *codec.Decoder, buf *[]byte) (codec.Event, error) {
	for {
		if len(*buf) > 0 {
			ev, n, err := dec.Next(*buf)
			if err != nil {
				return ev, fmt.Errorf("%w: %v", errBadFrame, err)
			}
			if n > 0 || ev.Kind != codec.KindNone {
				ev.Payload = append([]byte(nil), ev.Payload...)
				ev.Reason = append([]byte(nil), ev.Reason...)
				*buf = (*buf)[n:]
				if ev.Kind != codec.KindNone {
					return ev, nil
				}
				continue
			}
		}
		var tmp [64 << 10]byte
		n, err := br.Read(tmp[:])
		*buf = append(*buf, tmp[:n]...)
		if err != nil && n == 0 {
			return codec.Event{}, err
		}
	}
}

// expectClose reads until a close frame and returns its code, then expects EOF.
func (rc *rawClient) expectClose(timeout time.Duration) codec.StatusCode {
	rc.t.Helper()
	for {
		ev, err := rc.next(timeout)
		if err != nil {
			rc.t.Fatalf("waiting for a close frame: %v", err)
		}
		if ev.Kind == codec.KindClose {
			return ev.Code
		}
	}
}

// expectEOF waits for the server to close TCP.
func (rc *rawClient) expectEOF(timeout time.Duration) {
	rc.t.Helper()
	for {
		_, err := rc.next(timeout)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			rc.t.Fatalf("server did not close TCP within %v", timeout)
		}
		return // EOF or reset
	}
}

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

// testLogger sends debug logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
