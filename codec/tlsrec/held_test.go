package tlsrec

import (
	"crypto/tls"
	"runtime"
	"testing"
)

// TestHeld12 measures what a kept TLS 1.2 connection holds once idle (its
// crypto/tls Conn, the Handshake and their buffers after some traffic),
// the figure Held12 charges: the heap freed when 50 of them are dropped.
func TestHeld12(t *testing.T) {
	ca, cert := testCerts(t)
	pool := newPool(t)
	const n = 50
	hs := make([]*Handshake, n)
	for i := range hs {
		s := serverSide(t, pool, &tls.Config{Certificates: []tls.Certificate{cert}},
			&tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MaxVersion: tls.VersionTLS12})
		// Some traffic each way, as a chat connection has.
		out, err := s.h.WritePlain(pattern(500, i))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = s.raw.Write(out)
		s.readPeer(t, 500)
		_, _ = s.peer.Write(pattern(300, i))
		got := 0
		for got < 300 {
			buf := make([]byte, 4096)
			k, err := s.raw.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			s.h.Feed(buf[:k])
			p, err := s.h.ReadPlain(nil)
			if err != nil {
				t.Fatal(err)
			}
			got += len(p)
		}
		hs[i] = s.h
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	clear(hs)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	per := int64(m0.HeapAlloc-m1.HeapAlloc) / n
	t.Logf("a kept TLS 1.2 connection holds %d bytes (charged %d)", per, held12)
	if per > 2*held12 || per < held12/4 {
		t.Fatalf("a kept TLS 1.2 connection holds %d bytes; held12 is %d", per, held12)
	}
}

// TestHandshakeHeld measures what a server handshake in flight holds: 50
// of them fed a ClientHello, each waiting on its worker for the client's
// Finished, against the heap once they are aborted.
func TestHandshakeHeld(t *testing.T) {
	_, cert := testCerts(t)
	hello := clientHello(t)
	const n = 50
	pool := NewPool(n, n)
	defer pool.Close()
	sent := make(chan struct{}, n)
	done := make(chan struct{}, n)
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	hs := make([]*Handshake, n)
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	for i := range hs {
		first := true
		hs[i] = NewServer(cfg, func(*Handshake, []byte) {
			if first {
				first = false
				sent <- struct{}{}
			}
		}, func(*Handshake) { done <- struct{}{} })
		hs[i].Feed(hello)
		pool.Submit(hs[i])
	}
	for range n {
		<-sent
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	per := int64(m1.HeapAlloc-m0.HeapAlloc) / n
	for _, h := range hs {
		h.Abort()
	}
	for range n {
		<-done
	}
	t.Logf("a server handshake in flight holds %d bytes (charged %d)", per, HandshakeHeld)
	if per > 2*HandshakeHeld || per < HandshakeHeld/4 {
		t.Fatalf("a handshake in flight holds %d bytes; HandshakeHeld is %d", per, HandshakeHeld)
	}
}
