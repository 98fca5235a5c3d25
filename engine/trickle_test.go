package engine_test

import (
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"edgews/engine"
)

// TestTrickledHeadGnet sends an 8,000-byte request head one byte per
// write, pausing every 16 so that the loop reads them in small pieces,
// and measures what the whole process allocated meanwhile: with gnet
// copying everything it held on each read it was about 12 MiB; it must
// stay far below (the head, once, and its growth).
func TestTrickledHeadGnet(t *testing.T) {
	srv, _ := echoServer(t, engine.Config{Loops: 1, HandshakeTimeout: time.Minute})
	conn, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const start = "GET /echo HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Pad: "
	head := []byte(start + strings.Repeat("p", 8000-len(start)-4) + "\r\n\r\n")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range head {
		if _, err := conn.Write(head[i : i+1]); err != nil {
			t.Fatal(err)
		}
		if i%16 == 15 {
			time.Sleep(20 * time.Microsecond) // let the loop read
		}
	}
	rc := &rawClient{t: t, conn: conn, br: bufioReader(conn)}
	if status := rc.readHead(); !strings.HasPrefix(status, "HTTP/1.1 101 ") {
		t.Fatalf("upgrade answered %q", status)
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d-byte head, one byte per write: the process allocated %d bytes in %d allocations", len(head), alloc, after.Mallocs-before.Mallocs)
	if alloc > 1<<20 {
		t.Fatalf("%d bytes allocated for an %d-byte head, want under 1 MiB", alloc, len(head))
	}
}
