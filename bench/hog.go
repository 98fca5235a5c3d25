package bench

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"edgews/codec"
	"golang.org/x/sys/unix"
)

// A hog is an attack-outbound member that never reads, so that the server
// has to hold what it sends it. It cannot live on a gnet loop, which reads
// whatever arrives into its own unbounded buffer; it is a plain socket
// with a small SO_RCVBUF, upgraded by the dialer goroutine that opened it
// and then left alone: no goroutine per connection. At the end of the
// attack drainHogs reads each one to learn its fate.
type hog struct {
	nc  net.Conn
	pre []byte // bytes read after the 101 response: the first frames

	// Set by drainHogs.
	closed bool  // the server closed it (EOF or reset after what it had queued)
	code   int   // close code in the frames read; 0: none
	read   int64 // bytes read while draining
}

// hogMSS is the segment size a hog announces. The server's kernel sizes a
// socket's send buffer from the peer's MSS (twice ten segments to start
// with): loopback's 64 KiB MSS lets it soak up 2.5 to 4 MB per hog
// before the node holds anything, a typical Internet MSS about 30 KB, as
// here.
const hogMSS = 1460

// Drain bounds: a hog that sends nothing for hogQuiet is still open; one
// that still sends after hogDrainMax is counted open too, and so is every
// hog not drained within hogDrainAll. hogDrainers goroutines drain (10,000
// quiet hogs take 10 s).
const (
	hogQuiet    = 250 * time.Millisecond
	hogDrainMax = 5 * time.Second
	hogDrainAll = 20 * time.Second
	hogDrainers = 256
)

// dialHog dials, shrinks the receive buffer before the connect (so the
// window is small from the first segment), and upgrades user c.id as a
// hog.
func (w *worker) dialHog(c *conn, local net.IP) {
	rcvbuf := w.cfg.HogRcvBuf
	d := net.Dialer{Timeout: w.cfg.DialTimeout, Control: func(network, address string, rc syscall.RawConn) error {
		if local != nil {
			if err := bindNoPort(network, address, rc); err != nil {
				return err
			}
		}
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = errors.Join(unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf),
				unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG, hogMSS))
		})
		return errors.Join(err, serr)
	}}
	if local != nil {
		d.LocalAddr = &net.TCPAddr{IP: local}
	}
	nc, err := d.Dial("tcp", w.addr)
	if err != nil {
		w.failed(c.node, dialFailure(err, w.addr, local, w.cfg.DialTimeout))
		return
	}
	if cfg := w.tlsCfg[0]; cfg != nil {
		// A hog is not on a loop: crypto/tls on its blocking socket,
		// which the hog then never reads either.
		tc := tls.Client(nc, cfg)
		_ = tc.SetDeadline(time.Now().Add(w.cfg.HandshakeTimeout))
		if err := tc.Handshake(); err != nil {
			nc.Close()
			w.failed(c.node, &FailError{Reason: ReasonTLS, Msg: "bench: TLS handshake with " + w.addr + ": " + err.Error()})
			return
		}
		nc = tc
	}
	pre, fe := w.upgradeBlocking(nc, c.key[:])
	if fe != nil {
		nc.Close()
		w.failed(c.node, fe)
		return
	}
	w.hogsMu.Lock()
	w.hogs = append(w.hogs, &hog{nc: nc, pre: pre})
	w.hogsMu.Unlock()
	w.opened(c.node, nowNanos())
}

// upgradeBlocking writes the upgrade request on nc and reads the response,
// within HandshakeTimeout. It returns the bytes that followed the response.
func (w *worker) upgradeBlocking(nc net.Conn, key []byte) ([]byte, *FailError) {
	_ = nc.SetDeadline(time.Now().Add(w.cfg.HandshakeTimeout))
	defer nc.SetDeadline(time.Time{})
	if _, err := nc.Write(appendUpgradeRequest(nil, w.host, w.path, key, false, "")); err != nil {
		return nil, dialFailure(err, w.addr, nil, w.cfg.DialTimeout)
	}
	buf := make([]byte, 0, 1024)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		k, err := nc.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		n, _, fe := parseUpgradeResponse(buf, key, w.addr, false)
		if fe != nil {
			return nil, fe
		}
		if n > 0 {
			return append([]byte(nil), buf[n:]...), nil
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, &FailError{Reason: ReasonHandshakeTimeout,
				Msg: "bench: no upgrade response from " + w.addr + " within " + w.cfg.HandshakeTimeout.String()}
		}
		if err != nil {
			return nil, &FailError{Reason: ReasonClosed, Msg: "bench: " + w.addr + " closed the connection during the upgrade: " + err.Error()}
		}
	}
}

// drainHogs reads every hog until the server's close (EOF or reset), or
// until it has been quiet for hogQuiet (still open), with up to hogDrainers
// goroutines, and records each one's fate.
func (w *worker) drainHogs() {
	w.hogsMu.Lock()
	hogs := append([]*hog(nil), w.hogs...)
	w.hogsMu.Unlock()
	next := make(chan *hog)
	var wg sync.WaitGroup
	stop := time.Now().Add(hogDrainAll)
	for range min(hogDrainers, len(hogs)) {
		wg.Go(func() {
			buf := make([]byte, 64<<10)
			for h := range next {
				h.drain(buf, stop)
			}
		})
	}
	for _, h := range hogs {
		next <- h
	}
	close(next)
	wg.Wait()
}

// drain reads h as described at drainHogs; buf is scratch.
func (h *hog) drain(buf []byte, stop time.Time) {
	dec := codec.Decoder{Role: codec.RoleClient}
	pend := h.pre
	end := time.Now().Add(hogDrainMax)
	if end.After(stop) {
		end = stop
	}
	for {
		// Frames are looked at only for a close; the rest is counted.
		for {
			ev, k, err := dec.Next(pend)
			if err != nil || (ev.Kind == codec.KindNone && k == 0) {
				break
			}
			if ev.Kind == codec.KindClose {
				h.code = int(ev.Code)
			}
			pend = pend[k:]
		}
		if time.Now().After(end) {
			return
		}
		_ = h.nc.SetReadDeadline(time.Now().Add(hogQuiet))
		n, err := h.nc.Read(buf)
		h.read += int64(n)
		pend = append(pend, buf[:n]...)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			return // quiet: still open
		case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
			h.closed = true
			return
		case err != nil:
			h.closed = true
			return
		}
	}
}

// closeHogs closes every hog, at the end of the run.
func (w *worker) closeHogs() {
	w.hogsMu.Lock()
	defer w.hogsMu.Unlock()
	for _, h := range w.hogs {
		h.nc.Close()
	}
}
