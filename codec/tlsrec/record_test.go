package tlsrec

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
	"unsafe"
)

// TestInteropTLS12 checks the TLS 1.2 path both ways: the handshake keeps
// crypto/tls's Conn, driven by ReadPlain and WritePlain without blocking.
func TestInteropTLS12(t *testing.T) {
	ca, cert := testCerts(t)
	pool := newPool(t)
	s := serverSide(t, pool, &tls.Config{Certificates: []tls.Certificate{cert}},
		&tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MaxVersion: tls.VersionTLS12})
	if !s.h.Is12() || s.h.Version() != tls.VersionTLS12 {
		t.Fatalf("version %#x, want TLS 1.2 kept", s.h.Version())
	}
	want := pattern(40000, 3)
	go func() { _, _ = s.peer.Write(want) }()
	var got []byte
	tmp := make([]byte, 1000) // small reads: records split across Feeds
	for len(got) < len(want) {
		if len(s.in) == 0 {
			n, err := s.raw.Read(tmp)
			if err != nil {
				t.Fatal(err)
			}
			s.in = append(s.in, tmp[:n]...)
		}
		s.h.Feed(s.in)
		s.in = s.in[:0]
		var err error
		if got, err = s.h.ReadPlain(got); err != nil {
			t.Fatal(err)
		}
	}
	eq(t, "from crypto/tls", got, want)
	out, err := s.h.WritePlain(want)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = s.raw.Write(out)
	eq(t, "to crypto/tls", s.readPeer(t, len(want)), want)
	_, _ = s.raw.Write(s.h.CloseNotify())
	if n, err := s.peer.Read(tmp); n != 0 || err != io.EOF {
		t.Fatalf("after close_notify: %d, %v; want EOF", n, err)
	}
}

// TestKeyUpdateWithCryptoTLS: the record layer asks crypto/tls for a
// KeyUpdate; crypto/tls answers with its own (RFC 8446 section 4.6.3),
// which Open must follow, and both directions keep working on the new
// keys.
func TestKeyUpdateWithCryptoTLS(t *testing.T) {
	ca, cert := testCerts(t)
	pool := newPool(t)
	s := serverSide(t, pool, &tls.Config{Certificates: []tls.Certificate{cert}},
		&tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
	for round := range 3 {
		out, err := s.rec.AppendKeyUpdate(nil, true)
		if err != nil {
			t.Fatal(err)
		}
		msg := pattern(50, round)
		if out, err = s.rec.Seal(out, msg); err != nil {
			t.Fatal(err)
		}
		_, _ = s.raw.Write(out)
		eq(t, "after our KeyUpdate", s.readPeer(t, len(msg)), msg) // crypto/tls read it with the next key, and answered
		reply := pattern(70, round+10)
		_, _ = s.peer.Write(reply)
		secret := s.rec.in.secret
		eq(t, "after its KeyUpdate", s.readRecords(t, len(reply)), reply)
		if s.rec.in.seq != 1 || s.rec.in.secret == secret {
			t.Fatalf("read sequence %d after the peer's KeyUpdate and one record, want 1 with a new secret", s.rec.in.seq)
		}
		if s.rec.NeedKeyUpdate() {
			t.Fatal("crypto/tls's answer asked for another update")
		}
	}
}

// stream seals msgs, one record each, with c.
func stream(t testing.TB, c *Conn, msgs ...[]byte) []byte {
	t.Helper()
	var out []byte
	for _, m := range msgs {
		var err error
		if out, err = c.Seal(out, m); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// openSplit feeds the record stream to c in two reads split at k, as an
// event loop would (unconsumed bytes stay buffered and the next read is
// appended), and returns the application data.
func openSplit(c *Conn, s []byte, k int) ([]byte, error) {
	var got, buf []byte
	for _, part := range [][]byte{s[:k], s[k:]} {
		buf = append(buf, part...)
		res, err := c.Open(buf)
		got = append(got, res.Data...)
		if err != nil {
			return got, err
		}
		buf = append(buf[:0], buf[res.N:]...)
	}
	if len(buf) != 0 {
		return got, errors.New("bytes left over")
	}
	return got, nil
}

// TestOpenEverySplit opens a stream of records split at every byte, and
// in one read, for each suite.
func TestOpenEverySplit(t *testing.T) {
	for id, name := range suiteNames {
		t.Run(name, func(t *testing.T) {
			cli, srv := pairConns(t, id)
			msgs := [][]byte{pattern(1, 1), pattern(200, 2), {}, pattern(33, 3), pattern(600, 4)}
			var want []byte
			for _, m := range msgs {
				want = append(want, m...)
			}
			s := stream(t, cli, msgs...)
			// An empty Seal makes no record: add an empty one by hand.
			s = appendRaw(t, cli, s, TypeApplicationData, nil, 0)
			for k := 0; k <= len(s); k++ {
				c := *srv // the same keys at sequence 0, every time
				got, err := openSplit(&c, append([]byte(nil), s...), k)
				if err != nil {
					t.Fatalf("split at %d: %v", k, err)
				}
				eq(t, "split", got, want)
			}
		})
	}
}

// appendRaw seals content of type typ followed by pad zero bytes: what
// Seal never makes (padding, empty records, other inner types).
func appendRaw(t testing.TB, c *Conn, dst []byte, typ ContentType, content []byte, pad int) []byte {
	t.Helper()
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0)
	dst = append(dst, content...)
	// seal appends the type; the padding goes after it, so build the
	// inner plaintext by hand and seal it as "content" of type 0... use
	// the internals directly instead.
	dst = append(dst, byte(typ))
	dst = append(dst, make([]byte, pad)...)
	a, err := c.out.get(c.s())
	if err != nil {
		t.Fatal(err)
	}
	n := len(dst) - start - HeaderLen + tagLen
	hdr := []byte{byte(TypeApplicationData), 3, 3, byte(n >> 8), byte(n)}
	copy(dst[start:], hdr)
	pt := dst[start+HeaderLen:]
	ct := a.Seal(nil, c.out.iv[:], pt, hdr)
	c.out.done()
	return append(dst[:start+HeaderLen], ct...)
}

// TestOpenFaults: every way a record stream can be bad gets its alert, and
// what came before it is still delivered.
func TestOpenFaults(t *testing.T) {
	cli, srv := pairConns(t, tls.TLS_AES_128_GCM_SHA256)
	base := *cli // at sequence 0, for the hand-made records
	good := stream(t, cli, []byte("one"), []byte("two"))
	rec1 := good[:len(good)/2]
	rec2 := good[len(good)/2:]
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 0x01; return b }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	over := bytes.Clone(rec1)
	binary.BigEndian.PutUint16(over[3:], MaxCiphertext+1)
	kuBad, kuTrail, nst := base, base, base
	tests := []struct {
		name   string
		in     []byte
		data   string
		alert  Alert
		remote bool
	}{
		{"flipped body bit", flip(rec1, HeaderLen+1), "", AlertBadRecordMAC, false},
		{"flipped tag bit", flip(rec1, len(rec1)-1), "", AlertBadRecordMAC, false},
		{"flipped header bit", flip(rec1, 2), "", AlertBadRecordMAC, false},
		{"replayed record", cat(rec1, rec1), "one", AlertBadRecordMAC, false},
		{"reordered records", cat(rec2, rec1), "", AlertBadRecordMAC, false},
		{"second record flipped", cat(rec1, flip(rec2, HeaderLen)), "one", AlertBadRecordMAC, false},
		{"over-long record", over, "", AlertRecordOverflow, false},
		{"over-long plaintext", appendRaw(t, ptr(base), nil, TypeApplicationData, make([]byte, MaxPlaintext+1), 0), "", AlertRecordOverflow, false},
		{"no content type", appendRaw(t, ptr(base), nil, 0, nil, 5), "", AlertUnexpectedMessage, false},
		{"plain handshake record", []byte{22, 3, 3, 0, 1, 0}, "", AlertUnexpectedMessage, false},
		{"change_cipher_spec after the handshake", []byte{20, 3, 3, 0, 1, 1}, "", AlertUnexpectedMessage, false},
		{"unknown inner type", appendRaw(t, ptr(base), nil, 99, []byte("x"), 0), "", AlertUnexpectedMessage, false},
		{"fatal alert", appendRaw(t, ptr(base), nil, TypeAlert, []byte{2, byte(AlertBadCertificate)}, 0), "", AlertBadCertificate, true},
		{"alert of 3 bytes", appendRaw(t, ptr(base), nil, TypeAlert, []byte{2, 0, 0}, 0), "", AlertUnexpectedMessage, false},
		{"KeyUpdate request 2", appendRaw(t, &kuBad, nil, TypeHandshake, []byte{24, 0, 0, 1, 2}, 0), "", AlertIllegalParameter, false},
		{"KeyUpdate not at record end", appendRaw(t, &kuTrail, nil, TypeHandshake, []byte{24, 0, 0, 1, 0, 24, 0, 0, 1, 0}, 0), "", AlertUnexpectedMessage, false},
		{"NewSessionTicket to a server", appendRaw(t, &nst, nil, TypeHandshake, []byte{4, 0, 0, 1, 0}, 0), "", AlertUnexpectedMessage, false},
		{"empty handshake record", appendRaw(t, ptr(base), nil, TypeHandshake, nil, 0), "", AlertUnexpectedMessage, false},
		{"17 empty records", emptyRecords(t, ptr(base), 17), "", AlertUnexpectedMessage, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *srv
			res, err := c.Open(bytes.Clone(tt.in))
			var ae *AlertError
			if !errors.As(err, &ae) || ae.Alert != tt.alert || ae.Remote != tt.remote {
				t.Fatalf("Open: %v, want alert %v (remote %v)", err, tt.alert, tt.remote)
			}
			if string(res.Data) != tt.data {
				t.Fatalf("data %q, want %q", res.Data, tt.data)
			}
			if !tt.remote {
				// The alert goes out sealed; the peer reads it.
				out, err := c.AppendAlert(nil, ae.Alert)
				if err != nil {
					t.Fatal(err)
				}
				peer := base
				_, perr := peer.Open(out)
				if !errors.As(perr, &ae) || ae.Alert != tt.alert || !ae.Remote {
					t.Fatalf("peer read %v, want remote %v", perr, tt.alert)
				}
			}
		})
	}
}

func ptr(c Conn) *Conn { return &c }

func emptyRecords(t *testing.T, c *Conn, n int) []byte {
	var out []byte
	for range n {
		out = appendRaw(t, c, out, TypeApplicationData, nil, 0)
	}
	return out
}

// TestOpenGood: what a peer may legally send besides plain records:
// padding, empty records (up to the limit), close_notify, user_canceled,
// a KeyUpdate split across two records, and session tickets to a client.
func TestOpenGood(t *testing.T) {
	cli, srv := pairConns(t, tls.TLS_CHACHA20_POLY1305_SHA256)
	var s []byte
	s = appendRaw(t, cli, s, TypeApplicationData, []byte("padded"), 300)
	s = append(s, emptyRecords(t, cli, 16)...)
	s = appendRaw(t, cli, s, TypeApplicationData, []byte("+max"), MaxPlaintext+1-len("+max")-1)
	s = appendRaw(t, cli, s, TypeAlert, []byte{1, byte(AlertUserCanceled)}, 0)
	s = appendRaw(t, cli, s, TypeHandshake, []byte{24, 0}, 0)
	s = appendRaw(t, cli, s, TypeHandshake, []byte{0, 1, 1}, 0) // update_requested
	if err := cli.out.update(cli.s()); err != nil {
		t.Fatal(err)
	}
	s = appendRaw(t, cli, s, TypeApplicationData, []byte("+new key"), 0)
	s = appendRaw(t, cli, s, TypeAlert, []byte{1, byte(AlertCloseNotify)}, 0)
	s = append(s, "ignored after close_notify"...)
	res, err := srv.Open(s)
	if err != io.EOF || !srv.Closed() {
		t.Fatalf("Open: %v, closed %v; want io.EOF at close_notify", err, srv.Closed())
	}
	if string(res.Data) != "padded+max+new key" || res.KeyUpdates != 1 {
		t.Fatalf("data %q, %d key updates", res.Data, res.KeyUpdates)
	}
	if res.N != len(s)-len("ignored after close_notify") {
		t.Fatalf("consumed %d of %d", res.N, len(s))
	}
	// The requested update is answered before the next data.
	if !srv.NeedKeyUpdate() {
		t.Fatal("update_requested not noted")
	}
	out, err := srv.Seal(nil, []byte("reply"))
	if err != nil {
		t.Fatal(err)
	}
	res, err = cli.Open(out)
	if err != nil || string(res.Data) != "reply" || res.KeyUpdates != 1 || srv.NeedKeyUpdate() {
		t.Fatalf("client read %q, %d key updates, %v", res.Data, res.KeyUpdates, err)
	}

	// A client skips the server's session tickets.
	cli2, srv2 := pairConns(t, tls.TLS_AES_256_GCM_SHA384)
	s = appendRaw(t, srv2, nil, TypeHandshake, []byte{4, 0, 0, 3, 1, 2, 3, 4, 0, 0, 1, 9}, 0)
	if s, err = srv2.Seal(s, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if res, err = cli2.Open(s); err != nil || string(res.Data) != "hi" {
		t.Fatalf("client read %q, %v", res.Data, err)
	}
}

// TestSealSplits: data over 2^14 goes into several full records, and
// SealedLen is exact.
func TestSealSplits(t *testing.T) {
	cli, srv := pairConns(t, tls.TLS_AES_256_GCM_SHA384)
	for _, n := range []int{0, 1, MaxPlaintext - 1, MaxPlaintext, MaxPlaintext + 1, 5*MaxPlaintext + 3} {
		want := pattern(n, n)
		out, err := srv.Seal(make([]byte, 0, SealedLen(n)), want[:n/3], want[n/3:])
		if err != nil || len(out) != SealedLen(n) {
			t.Fatalf("%d bytes: sealed %d (want %d), %v", n, len(out), SealedLen(n), err)
		}
		res, err := cli.Open(out)
		if err != nil || res.N != len(out) {
			t.Fatal(err)
		}
		eq(t, "round trip", res.Data, want)
	}
}

// TestIdleDropsAEADs: an AEAD of a direction not busy is freed at the
// end of its event (Release) or at the next Idle; a direction used
// between two Idles keeps its AEAD until one finds it unused; a dropped
// AEAD is rebuilt at the next record.
func TestIdleDropsAEADs(t *testing.T) {
	cli, srv := pairConns(t, tls.TLS_AES_128_GCM_SHA256)
	out, _ := srv.Seal(nil, []byte("x"))
	if got := srv.HeldAEAD(); got != aesGCMHeld {
		t.Fatalf("held %d after a Seal, want one AEAD", got)
	}
	if !srv.Release() || srv.HeldAEAD() != 0 {
		t.Fatal("an idle direction kept its AEAD after the event")
	}
	if res, err := cli.Open(out); err != nil || string(res.Data) != "x" {
		t.Fatal(err)
	}
	// Busy: used in an Idle period, the AEAD stays from then on.
	out, _ = srv.Seal(nil, []byte("y"))
	srv.Idle() // notes the use: busy
	out, _ = srv.Seal(out, []byte("z"))
	if srv.Release() || srv.HeldAEAD() != aesGCMHeld {
		t.Fatal("a busy direction lost its AEAD at the end of an event")
	}
	if srv.Idle() || srv.HeldAEAD() != aesGCMHeld {
		t.Fatal("the Idle after a use dropped the AEAD")
	}
	if !srv.Idle() || srv.HeldAEAD() != 0 {
		t.Fatal("an Idle period without use kept the AEAD")
	}
	if res, err := cli.Open(out); err != nil || string(res.Data) != "yz" {
		t.Fatal("after a rebuild:", res.Data, err)
	}
}

// TestConnSize guards the per-connection cost: a Conn lives as long as its
// connection.
func TestConnSize(t *testing.T) {
	if got := unsafe.Sizeof(Conn{}); got != 192 {
		t.Fatalf("Conn is %d bytes, want 192", got)
	}
}

// TestAEADHeld checks the constants the memory budget charges per AEAD.
func TestAEADHeld(t *testing.T) {
	for _, s := range suites {
		key := make([]byte, s.keyLen)
		const n = 100
		keep := make([]any, n)
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		for i := range keep {
			keep[i], _ = s.aead(key)
		}
		runtime.ReadMemStats(&m1)
		got := int64(m1.TotalAlloc-m0.TotalAlloc) / n
		if got != int64(s.held) {
			t.Errorf("suite %#x: an AEAD allocates %d bytes, charged %d", s.id, got, s.held)
		}
	}
}
