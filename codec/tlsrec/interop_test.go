package tlsrec

import (
	"crypto/tls"
	"fmt"
	"testing"

	"edgews/codec/tlsrec/tlstest"
)

var suiteNames = map[uint16]string{
	tls.TLS_AES_128_GCM_SHA256:       "AES-128-GCM",
	tls.TLS_AES_256_GCM_SHA384:       "AES-256-GCM",
	tls.TLS_CHACHA20_POLY1305_SHA256: "ChaCha20-Poly1305",
}

// TestInterop handshakes tlsrec with crypto/tls per TLS 1.3 suite, tlsrec
// as the server (Go's client) and as the client (Go's server, which sends
// session tickets right after its Finished: they must be skipped, under
// the server's application key, counting in its sequence numbers), then
// exchanges application data both ways through the record layer.
func TestInterop(t *testing.T) {
	ca, cert := testCerts(t)
	pool := newPool(t)
	for _, role := range []Role{Server, Client} {
		for _, id := range []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384, tls.TLS_CHACHA20_POLY1305_SHA256} {
			t.Run([]string{"server", "client"}[role]+"/"+suiteNames[id], func(t *testing.T) {
				tlstest.OnlySuite(t, id)
				s := handshake(t, pool, role, &tls.Config{Certificates: []tls.Certificate{cert}},
					&tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
				if got := s.rec.Suite(); got != id {
					t.Fatalf("negotiated %#x, want %#x", got, id)
				}
				exchange(t, s)
			})
		}
	}
}

// exchange sends application data both ways between crypto/tls and the
// record layer: small messages, one of several records, and many frames
// packed by Seal into one record.
func exchange(t *testing.T, s *side) {
	t.Helper()
	for _, n := range []int{1, 100, MaxPlaintext, 3*MaxPlaintext + 5} {
		want := pattern(n, n)
		if _, err := s.peer.Write(want); err != nil {
			t.Fatal(err)
		}
		eq(t, fmt.Sprintf("%d bytes from crypto/tls", n), s.readRecords(t, n), want)

		out, err := s.rec.Seal(nil, want[:n/2], want[n/2:])
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != SealedLen(n) {
			t.Fatalf("sealed %d bytes into %d, want %d", n, len(out), SealedLen(n))
		}
		if _, err := s.raw.Write(out); err != nil {
			t.Fatal(err)
		}
		eq(t, fmt.Sprintf("%d bytes to crypto/tls", n), s.readPeer(t, n), want)
	}
	// 100 frames of 100 bytes: one record.
	var frames [][]byte
	var all []byte
	for i := range 100 {
		f := pattern(100, i)
		frames = append(frames, f)
		all = append(all, f...)
	}
	out, err := s.rec.Seal(nil, frames...)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(all)+Overhead {
		t.Fatalf("100 frames sealed into %d bytes, want one record of %d", len(out), len(all)+Overhead)
	}
	_, _ = s.raw.Write(out)
	eq(t, "packed frames", s.readPeer(t, len(all)), all)
}
