package engine

import (
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"

	"edgews/codec"
)

// ringConn is a pipeConn whose Peek costs what gnet's does: the bytes
// kept from earlier reads (gnet's ring buffer) and those of the current
// read come back together in a new slice, which gnet takes from its pool
// and gets back only at the next Discard.
type ringConn struct {
	*pipeConn
	ring   int    // leading bytes of in kept from earlier reads
	copied int    // bytes Peek copied
	back   []byte // in's array, reused once in is empty (the harness allocates nothing per read)
}

// read delivers b as one read, as gnet's OnTraffic does.
func (rc *ringConn) read(s *Server, b []byte) {
	if len(rc.in) == 0 {
		if rc.back == nil {
			rc.back = make([]byte, 0, 64<<10)
		}
		rc.in = rc.back[:0]
	}
	rc.ring = len(rc.in)
	rc.in = append(rc.in, b...)
	s.OnTraffic(rc)
}

func (rc *ringConn) Peek(n int) ([]byte, error) {
	if n <= 0 || n > len(rc.in) {
		n = len(rc.in)
	}
	if rc.ring > 0 && n > rc.ring {
		rc.copied += n
		return append([]byte(nil), rc.in[:n]...), nil
	}
	return rc.in[:n], nil
}

func (rc *ringConn) Discard(n int) (int, error) {
	k, err := rc.pipeConn.Discard(n)
	rc.ring = max(rc.ring-k, 0)
	return k, err
}

// trickleHead is an upgrade request of n bytes (a padding header fills it).
func trickleHead(n int) []byte {
	const start = "GET /echo HTTP/1.1\r\nHost: inproc\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Pad: "
	return []byte(start + strings.Repeat("p", n-len(start)-4) + "\r\n\r\n")
}

// A request head that arrives one byte per read costs linear work: gnet
// is not made to copy what it holds with each new byte (an 8,000-byte
// head used to cost 32 MB of copies, each a new slice), the head is
// charged to the memory budget while it is partial, and the connection
// opens once it is whole.
func TestTrickledHead(t *testing.T) {
	p := NewInProc(Config{}, 1)
	p.Server().Handle("/echo", fuzzEcho{})
	rc := &ringConn{pipeConn: &pipeConn{el: p.els[0], remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}}}
	p.srv.OnOpen(rc)
	c := rc.ctx.(*Conn)
	head := trickleHead(8000)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range head {
		rc.read(p.srv, head[i:i+1])
		if i == len(head)/2 && (c.Held() < int64(i) || p.srv.HeldBytes() != c.Held()) {
			t.Fatalf("half the head: held %d (node %d), want at least %d", c.Held(), p.srv.HeldBytes(), i)
		}
	}
	runtime.ReadMemStats(&after)
	if c.state != stateOpen {
		t.Fatalf("state %d after the whole head, want open; wrote %q", c.state, rc.out)
	}
	if rc.copied > len(head) {
		t.Fatalf("gnet copied %d bytes for a %d-byte head, want at most the head once", rc.copied, len(head))
	}
	mallocs := after.Mallocs - before.Mallocs
	t.Logf("%d-byte head, one byte per read: %d bytes copied by gnet, %d allocations, %d bytes allocated",
		len(head), rc.copied, mallocs, after.TotalAlloc-before.TotalAlloc)
	if mallocs > 100 {
		t.Fatalf("%d allocations for a %d-byte head, want a few (not one per byte)", mallocs, len(head))
	}
	if c.Held() != 0 || p.srv.HeldBytes() != 0 {
		t.Fatalf("open: held %d (node %d), want 0", c.Held(), p.srv.HeldBytes())
	}
}

// The head's end is found wherever the reads split it, the blank line
// included, and the frame behind it is read: every split point of a
// request and a frame in two reads, then one byte per read.
func TestHeadSplitEverywhere(t *testing.T) {
	m := [4]byte{1, 2, 3, 4}
	wire := append(trickleHead(200), codec.AppendFrame(nil, true, codec.OpText, []byte("hi"), &m)...)
	run := func(name string, reads [][]byte) {
		p := NewInProc(Config{}, 1)
		p.Server().Handle("/echo", fuzzEcho{})
		pc := &pipeConn{el: p.els[0], capture: true, dec: codec.Decoder{Role: codec.RoleClient}}
		p.srv.OnOpen(pc)
		for _, r := range reads {
			pc.in = append(pc.in, r...)
			p.srv.OnTraffic(pc)
		}
		c := pc.ctx.(*Conn)
		if got := p.Received(c); c.state != stateOpen || len(got) != 1 || got[0] != "hi" {
			t.Fatalf("%s: state %d, echoed %q", name, c.state, got)
		}
		if len(p.Loop(0).heads) != 0 {
			t.Fatalf("%s: a kept head is left on the loop", name)
		}
	}
	for i := 0; i <= len(wire); i++ {
		run(fmt.Sprintf("split at %d", i), [][]byte{wire[:i], wire[i:]})
	}
	var bytewise [][]byte
	for i := range wire {
		bytewise = append(bytewise, wire[i:i+1])
	}
	run("one byte per read", bytewise)
}

func TestHeadEnd(t *testing.T) {
	tests := []struct {
		name       string
		kept, read string
		want       int
	}{
		{"nothing kept", "", "GET / HTTP/1.1\r\n\r\nxx", 18},
		{"not yet", "GET / HTTP/1.1\r\n", "Host: a\r\n", -1},
		{"split after CR", "GET / HTTP/1.1\r\nHost: a\r", "\n\r\nframe", 3},
		{"split after CRLF", "GET / HTTP/1.1\r\nHost: a\r\n", "\r\nframe", 2},
		{"split after CRLFCR", "GET / HTTP/1.1\r\nHost: a\r\n\r", "\nframe", 1},
		{"in the read", "GET / HTTP/1.1\r\n", "Host: a\r\n\r\nframe", 11},
		{"CR kept, no end", "GET / HTTP/1.1\r\nHost: a\r", "\nX: y", -1},
	}
	for _, tt := range tests {
		if got := headEnd([]byte(tt.kept), []byte(tt.read)); got != tt.want {
			t.Errorf("%s: headEnd = %d, want %d", tt.name, got, tt.want)
		}
	}
}
