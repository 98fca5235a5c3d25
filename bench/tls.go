package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"

	"edgews/codec/tlsrec"
	"github.com/panjf2000/gnet/v2"
)

// wss:// on the bench's loops: the client side of the node's machinery
// (codec/tlsrec). A connection to a wss URL starts its TLS handshake when
// gnet enrolls it: crypto/tls runs it on the worker's handshake pool, fed
// the records the loop reads, writing its flights through the loop; then
// the connection keeps only a tlsrec.Conn (its keys), the upgrade request
// goes out sealed, and every read opens the records gnet buffered in
// place before the frames are parsed from the plaintext, exactly as on a
// ws connection. No goroutine per connection, no crypto/tls object after
// the handshake (TLS 1.2 servers are refused: the record layer is TLS
// 1.3's).

// DefaultTLSWorkers is the TLS handshakes in progress per CPU core and
// process when Config.TLSWorkers is zero.
const DefaultTLSWorkers = 8

// connTLS is a wss connection's TLS state.
type connTLS struct {
	rec   tlsrec.Conn
	hs    *tlsrec.Handshake // in flight; nil once done
	carry []byte            // plaintext not parsed yet (a partial frame or response)
	began int64             // Unix ns when the handshake began (the TCP connect was done)
}

// tlsConfigs makes the client TLS configuration of every wss URL (nil
// for ws ones): the server name from the URL, RootCAs from Config.CA (the
// system's if empty), or no verification with Config.Insecure.
func (w *worker) tlsConfigs() error {
	var roots *x509.CertPool
	if w.cfg.CA != "" {
		pem, err := os.ReadFile(w.cfg.CA)
		if err != nil {
			return fmt.Errorf("bench: --ca: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("bench: --ca %s: no PEM certificate in it", w.cfg.CA)
		}
	}
	w.tlsCfg = make([]*tls.Config, len(w.targets))
	for i, t := range w.targets {
		if !t.tls {
			continue
		}
		host, _, _ := net.SplitHostPort(t.addr)
		w.tlsCfg[i] = &tls.Config{
			ServerName:         host,
			RootCAs:            roots,
			InsecureSkipVerify: w.cfg.Insecure,
			MinVersion:         tls.VersionTLS13,
			NextProtos:         []string{"http/1.1"},
		}
	}
	return nil
}

// startTLS begins c's handshake (OnOpen, on its loop, l locked).
func (w *worker) startTLS(c *conn) {
	c.tls.began = nowNanos()
	h := tlsrec.NewClient(w.tlsCfg[c.node], handshakeSent, handshakeDone)
	h.Data = c
	c.tls.hs = h
	if !w.tlsPool.Submit(h) {
		c.tls.hs = nil
		c.l.failConn(c, &FailError{Reason: ReasonTLS, Msg: "bench: TLS handshake queue full (raise --tls-workers)"})
		_ = c.l.el.Close(c.gc)
	}
}

// handshakeSent writes a flight of c's handshake, on its loop.
func handshakeSent(h *tlsrec.Handshake, b []byte) {
	c := h.Data.(*conn)
	_ = c.l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		defer c.l.unlock(c.l.lock())
		if c.state == stateHandshake && c.tls.hs == h {
			_, _ = c.gc.Write(b)
		}
		return nil
	}))
}

// handshakeDone takes c's handshake over on its loop: the keys, then the
// upgrade request, then whatever the server sent after its Finished.
func handshakeDone(h *tlsrec.Handshake) {
	c := h.Data.(*conn)
	err := c.l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		l := c.l
		defer l.unlock(l.lock())
		defer h.Wipe()
		if c.state != stateHandshake || c.tls.hs != h {
			return nil // failed or closed meanwhile
		}
		c.tls.hs = nil
		if err := h.Err(); err != nil {
			l.failConn(c, &FailError{Reason: ReasonTLS, Msg: "bench: TLS handshake with " + l.w.targets[c.node].addr + ": " + err.Error()})
			_ = l.el.Close(c.gc)
			return nil
		}
		in, out := h.Secrets()
		if h.Is12() || c.tls.rec.Init(tlsrec.Client, h.CipherSuite(), in, out) != nil {
			l.failConn(c, &FailError{Reason: ReasonTLS, Msg: "bench: " + l.w.targets[c.node].addr + " negotiated " + tls.VersionName(h.Version()) + ": wss needs TLS 1.3"})
			_ = l.el.Close(c.gc)
			return nil
		}
		now := nowNanos()
		recordNanos(l.tlsHS, now-c.tls.began)
		req, ok := l.w.upgradeRequest(c)
		if !ok {
			_ = l.el.Close(c.gc) // its load-plan slot closed meanwhile
			return nil
		}
		if err := l.write(c, req); err != nil {
			return nil
		}
		if left := h.Leftover(); len(left) > 0 { // the server's session tickets, rarely its first frames
			res, err := c.tls.rec.Open(left)
			c.tls.carry = append(c.tls.carry, res.Data...)
			if err != nil {
				l.tlsFailed(c, err)
				_ = l.el.Close(c.gc)
				return nil
			}
		}
		if act := l.w.react.read(c, now); act == gnet.Close {
			_ = l.el.Close(c.gc)
		}
		return nil
	}))
	if err != nil {
		h.Wipe() // the client is stopping
	}
}

// feedHandshake hands c's handshake the whole records gnet buffered.
func feedHandshake(c *conn) {
	buf, _ := c.gc.Peek(-1)
	if n := tlsrec.RecordsLen(buf); n > 0 && c.tls.hs.Feed(buf[:n]) {
		_, _ = c.gc.Discard(n)
	}
}

// openRecords opens the records gnet buffered for c and returns the
// plaintext to parse (after what was carried), how many buffered bytes
// the records took, and the record layer's error.
func openRecords(c *conn) (plain []byte, n int, err error) {
	buf, _ := c.gc.Peek(-1)
	res, err := c.tls.rec.Open(buf)
	if len(c.tls.carry) > 0 {
		c.tls.carry = append(c.tls.carry, res.Data...)
		return c.tls.carry, res.N, err
	}
	return res.Data, res.N, err
}

// keep carries the unparsed end of plain (openRecords's) to the next read.
func keep(c *conn, plain []byte, parsed int) {
	rest := plain[parsed:]
	if len(rest) == 0 {
		c.tls.carry = c.tls.carry[:0]
		if cap(c.tls.carry) > 64<<10 {
			c.tls.carry = nil
		}
		return
	}
	c.tls.carry = append(c.tls.carry[:0], rest...) // copy: rest may alias gnet's buffer (or the carry itself, which append copies forward)
}

// tlsFailed fails or loses c for a bad record from the server (with the
// alert it earned); a close_notify is the server closing. The caller
// closes c.
func (l *loop) tlsFailed(c *conn, err error) {
	if errors.Is(err, io.EOF) {
		return // OnClose follows the server's TCP close
	}
	fe := &FailError{Reason: ReasonTLS, Msg: "bench: TLS record from " + l.w.targets[c.node].addr + ": " + err.Error()}
	if c.state == stateHandshake {
		l.failConn(c, fe)
	} else {
		c.why = fe
	}
	var ae *tlsrec.AlertError
	if errors.As(err, &ae) && !ae.Remote {
		if out, err := c.tls.rec.AppendAlert(l.tlsOut[:0], ae.Alert); err == nil {
			_, _ = c.gc.Write(out)
		}
	}
}

// write writes b to c: sealed into records on a wss connection. A write
// error means gnet has closed the connection (OnClose counts it).
func (l *loop) write(c *conn, b []byte) error {
	if c.tls == nil {
		_, err := c.gc.Write(b)
		return err
	}
	if !c.tls.rec.Ready() {
		return nil // not before the handshake's end
	}
	out, err := c.tls.rec.Seal(l.tlsOut[:0], b)
	if err != nil {
		return err
	}
	if cap(out) <= 1<<20 {
		l.tlsOut = out[:0] // keep a grown scratch, within reason
	}
	_, err = c.gc.Write(out)
	return err
}

// startTLSPool starts the worker's handshake pool if a URL is wss.
func (w *worker) startTLSPool() {
	for _, t := range w.targets {
		if t.tls {
			n := w.cfg.TLSWorkers
			if n <= 0 {
				n = DefaultTLSWorkers * runtime.NumCPU()
			}
			w.tlsPool = tlsrec.NewPool(n, n*1024)
			return
		}
	}
}
