package engine

import (
	"crypto/tls"
	"testing"
	"unsafe"

	"edgews/codec"
)

// tlsEchoInProc opens an InProc TLS echo connection and returns its pipe
// and the records of n masked 128-byte text frames from the client.
func tlsEchoInProc(tb testing.TB, capture bool, n int) (*InProc, *pipeConn, []byte) {
	p, pc, frames, _ := tlsEchoPayload(tb, capture, n)
	return p, pc, frames
}

// tlsEchoPayload is tlsEchoInProc, with the frames' payload.
func tlsEchoPayload(tb testing.TB, capture bool, n int) (*InProc, *pipeConn, []byte, []byte) {
	p, pc := inprocEcho(tb, Config{TLS: &tls.Config{}}, capture)
	m := [4]byte{1, 2, 3, 4}
	payload := make([]byte, 128)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	var frames []byte
	for range n {
		frames = codec.AppendFrame(frames, true, codec.OpText, payload, &m)
	}
	return p, pc, frames, payload
}

// inprocEcho opens an InProc echo connection on a server configured with
// cfg.
func inprocEcho(tb testing.TB, cfg Config, capture bool) (*InProc, *pipeConn) {
	tb.Helper()
	p := NewInProc(cfg, 1)
	p.Server().Handle("/echo", fuzzEcho{})
	c, err := p.Open("/echo", 0, capture)
	if err != nil {
		tb.Fatal(err)
	}
	return p, c.gc.(*pipeConn)
}

// TestTLSInProcEcho reads frames out of records split at every byte (a
// record and a frame cut anywhere), echoes them, and opens the echoes.
func TestTLSInProcEcho(t *testing.T) {
	p, pc, frames, payload := tlsEchoPayload(t, true, 3)
	c := pc.ctx.(*Conn)
	for k := 0; k < 200; k += 7 {
		records := pc.seal(pc.seal(nil, frames[:100]), frames[100:])
		k := min(k, len(records))
		pc.in = append(pc.in, records[:k]...)
		p.srv.OnTraffic(pc)
		pc.in = append(pc.in, records[k:]...)
		p.srv.OnTraffic(pc)
		got := p.Received(c)
		if len(got) != 3 || got[0] != string(payload) || got[1] != string(payload) || got[2] != string(payload) {
			t.Fatalf("split at %d: echoes %q", k, got)
		}
		if len(pc.in) != 0 || tlsOf(c).x != nil {
			t.Fatalf("split at %d: %d bytes left unread, carried %v", k, len(pc.in), tlsOf(c).x)
		}
	}
}

// TestTLSConnSize guards what an idle TLS connection costs beyond a plain
// one: the tlsConn's size class (352 bytes; the Conn's is 144).
func TestTLSConnSize(t *testing.T) {
	if got := unsafe.Sizeof(tlsConn{}); got > 352 {
		t.Fatalf("tlsConn is %d bytes, more than the 352-byte size class", got)
	}
}
