package engine

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// fdConn is a gnet.Conn with a socket and an outbound count, for sendDirect.
type fdConn struct {
	gnet.Conn // nil: any other method panics
	fd        int
	queued    int
}

func (f *fdConn) Fd() int               { return f.fd }
func (f *fdConn) OutboundBuffered() int { return f.queued }

// tcpPair returns the two ends of a loopback TCP connection: the server
// side's descriptor (a duplicate, non-blocking) and the client.
func tcpPair(t *testing.T) (int, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cli, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	rc, _ := srv.(*net.TCPConn).SyscallConn()
	fd := -1
	_ = rc.Control(func(s uintptr) { fd, err = unix.Dup(int(s)) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	return fd, cli
}

// sendDirect sends what the socket takes, in order, with send or sendmsg,
// returns the rest for gnet, and leaves everything to gnet when it has
// bytes queued, when the call fails, or without a socket.
func TestSendDirect(t *testing.T) {
	fd, cli := tcpPair(t)
	c := &Conn{gc: &fdConn{fd: fd}, loop: &Loop{}}
	read := func(n int) []byte {
		t.Helper()
		b := make([]byte, n)
		_ = cli.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(cli, b); err != nil {
			t.Fatal(err)
		}
		return b
	}

	if rest := c.sendDirect([][]byte{[]byte("one")}); rest != nil {
		t.Fatalf("one buffer: %q left", rest)
	}
	if rest := c.sendDirect([][]byte{[]byte("two,"), nil, []byte("three")}); rest != nil {
		t.Fatalf("three buffers: %q left", rest)
	}
	if got := read(12); string(got) != "onetwo,three" {
		t.Fatalf("peer read %q", got)
	}

	// gnet has bytes queued: nothing goes ahead of them.
	c.gc.(*fdConn).queued = 1
	if rest := c.sendDirect([][]byte{[]byte("later")}); len(rest) != 1 || string(rest[0]) != "later" {
		t.Fatalf("with gnet's queue: %q left, want all", rest)
	}
	c.gc.(*fdConn).queued = 0

	// More than the socket takes: the rest comes back, in order.
	big := bytes.Repeat([]byte("0123456789"), 1<<20)
	rest := c.sendDirect([][]byte{big[:3<<20], big[3<<20:]})
	left := 0
	for _, b := range rest {
		left += len(b)
	}
	if left == 0 || left == len(big) {
		t.Fatalf("%d of %d bytes left: want a partial send", left, len(big))
	}
	if got := read(len(big) - left); !bytes.Equal(got, big[:len(big)-left]) || !bytes.Equal(bytes.Join(rest, nil), big[len(big)-left:]) {
		t.Fatal("the bytes sent and the bytes left are not the message in order")
	}

	// A reset peer: the error is gnet's to handle.
	cli.(*net.TCPConn).SetLinger(0)
	cli.Close()
	time.Sleep(50 * time.Millisecond)
	for i := 0; i < 3; i++ { // the first send after the RST may still succeed
		if rest := c.sendDirect([][]byte{[]byte("gone")}); rest != nil {
			if len(rest) != 1 || string(rest[0]) != "gone" {
				t.Fatalf("after a reset: %q left, want all", rest)
			}
			break
		}
		if i == 2 {
			t.Fatal("sends to a reset peer kept succeeding")
		}
	}

	c.gc.(*fdConn).fd = -1
	if rest := c.sendDirect([][]byte{[]byte("x")}); len(rest) != 1 {
		t.Fatal("without a socket: not left to Writev")
	}
}
