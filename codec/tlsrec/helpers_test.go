package tlsrec

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"edgews/codec/tlsrec/tlstest"
)

// tcpPair is a connected loopback TCP pair.
func tcpPair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	a, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b = <-ch
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// side is one end of a handshake between tlsrec and crypto/tls: the
// crypto/tls end, our raw socket, our Handshake and Conn, and the record
// bytes already read after the handshake.
type side struct {
	peer *tls.Conn // crypto/tls's end
	raw  net.Conn  // our end of TCP
	h    *Handshake
	rec  Conn
	in   []byte // records read, not yet opened
}

func newPool(t *testing.T) *Pool {
	p := NewPool(2, 16)
	t.Cleanup(p.Close)
	return p
}

// testCerts makes a CA and a localhost certificate.
func testCerts(t *testing.T) (*tlstest.CA, tls.Certificate) {
	ca := tlstest.NewCA(t)
	return ca, ca.Leaf(t, "localhost", "127.0.0.1")
}

// serverSide is handshake with tlsrec as the server.
func serverSide(t *testing.T, pool *Pool, srvCfg, cliCfg *tls.Config) *side {
	t.Helper()
	return handshake(t, pool, Server, srvCfg, cliCfg)
}

// handshake runs tlsrec's side (role) against crypto/tls's over loopback
// TCP and returns both ends, with our Conn set up for TLS 1.3.
func handshake(t *testing.T, pool *Pool, role Role, srvCfg, cliCfg *tls.Config) *side {
	t.Helper()
	peerRaw, raw := tcpPair(t)
	s := &side{raw: raw}
	if role == Server {
		s.peer = tls.Client(peerRaw, cliCfg)
	} else {
		s.peer = tls.Server(peerRaw, srvCfg)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.peer.Handshake() }()
	cfg := srvCfg
	if role == Client {
		cfg = cliCfg
	}
	var rest []byte
	var err error
	if s.h, rest, err = Drive(raw, pool, role, cfg); err != nil {
		t.Fatalf("tlsrec handshake: %v", err)
	}
	// A crypto/tls server's handshake returns once it has our Finished,
	// which was written before done.
	if err := <-errc; err != nil {
		t.Fatalf("crypto/tls handshake: %v", err)
	}
	s.in = append(s.h.Leftover(), rest...)
	if !s.h.Is12() {
		in, out := s.h.Secrets()
		if err := s.rec.Init(role, s.h.CipherSuite(), in, out); err != nil {
			t.Fatal(err)
		}
		s.h.Wipe()
	}
	return s
}

// readRecords reads from our raw socket until want bytes of application
// data have been opened (or the deadline), as an event loop's reads would,
// and returns them.
func (s *side) readRecords(t *testing.T, want int) []byte {
	t.Helper()
	var got []byte
	tmp := make([]byte, 32<<10)
	_ = s.raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer s.raw.SetReadDeadline(time.Time{})
	for len(got) < want {
		if len(s.in) > 0 {
			res, err := s.rec.Open(s.in)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			got = append(got, res.Data...)
			s.in = append(s.in[:0], s.in[res.N:]...)
			if len(got) >= want {
				break
			}
		}
		n, err := s.raw.Read(tmp)
		if err != nil {
			t.Fatalf("read after %d of %d bytes: %v", len(got), want, err)
		}
		s.in = append(s.in, tmp[:n]...)
	}
	return got
}

// readPeer reads n bytes of application data from crypto/tls's end.
func (s *side) readPeer(t *testing.T, n int) []byte {
	t.Helper()
	_ = s.peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(s.peer, b); err != nil {
		t.Fatalf("crypto/tls read: %v", err)
	}
	return b
}

// pattern is n bytes that tell their position.
func pattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + seed)
	}
	return b
}

func eq(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %d bytes, want %d (first difference at %d)", what, len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// pairConns is two Conns facing each other, a client's and a server's,
// with made-up secrets of suite id.
func pairConns(t testing.TB, id uint16) (cli, srv *Conn) {
	t.Helper()
	s := &suites[suiteIndex(id)-1]
	c2s, s2c := pattern(s.hashLen, 1), pattern(s.hashLen, 2)
	cli, srv = new(Conn), new(Conn)
	if err := cli.Init(Client, id, s2c, c2s); err != nil {
		t.Fatal(err)
	}
	if err := srv.Init(Server, id, c2s, s2c); err != nil {
		t.Fatal(err)
	}
	return cli, srv
}
