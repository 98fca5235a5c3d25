package engine

import (
	"crypto/tls"

	"edgews/codec/tlsrec"
)

// InProc on a TLS server (Config.TLS set): Open skips the handshake, as if
// it had just ended with made-up secrets (InProcTLSSuite), so that tests
// and benchmarks run the record layer on both sides, sealing and opening
// every frame, with no socket and no crypto/tls. The client's records are
// sealed by the connection's pipe; what the server writes is opened when
// the connection captures, otherwise only counted (as wire bytes).

// InProcTLSSuite is the TLS 1.3 suite of InProc's TLS connections.
var InProcTLSSuite uint16 = tls.TLS_AES_128_GCM_SHA256

// openTLS sets c up as a TLS 1.3 connection whose handshake just ended,
// and seals the upgrade request in pc.in.
func (p *InProc) openTLS(pc *pipeConn, c *Conn) {
	c2s, s2c := make([]byte, 48), make([]byte, 48)
	for i := range c2s {
		c2s[i], s2c[i] = byte(i), byte(i+100)
	}
	n := 32
	if InProcTLSSuite == tls.TLS_AES_256_GCM_SHA384 {
		n = 48
	}
	t := tlsOf(c)
	if err := t.rec.Init(tlsrec.Server, InProcTLSSuite, c2s[:n], s2c[:n]); err != nil {
		panic(err)
	}
	t.phase = tls13
	pc.rec = new(tlsrec.Conn)
	if err := pc.rec.Init(tlsrec.Client, InProcTLSSuite, s2c[:n], c2s[:n]); err != nil {
		panic(err)
	}
	pc.in = pc.seal(nil, pc.in)
}

// seal appends to dst the client's records carrying b.
func (pc *pipeConn) seal(dst, b []byte) []byte {
	out, err := pc.rec.Seal(dst, b)
	if err != nil {
		panic(err)
	}
	return out
}

// writeTLS opens the records the server wrote and parses their frames.
func (pc *pipeConn) writeTLS(bs [][]byte) (int, error) {
	n := 0
	for _, b := range bs {
		n += len(b)
		pc.raw = append(pc.raw, b...)
	}
	pc.written += int64(n)
	res, err := pc.rec.Open(pc.raw)
	pc.out = append(pc.out, res.Data...)
	pc.raw = append(pc.raw[:0], pc.raw[res.N:]...)
	if err != nil {
		pc.msgs = append(pc.msgs, "tls: "+err.Error())
	}
	pc.parse()
	return n, nil
}
