package tlsrec

import (
	"bytes"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"net"
	"slices"
	"sync"
	"time"
)

// Handshake is one connection's TLS handshake, done by crypto/tls on a
// Pool worker while the connection itself stays on its event loop:
//
//	event loop                               Pool worker (crypto/tls)
//	  bytes read  --- Feed (whole records) --> pipe.Read: blocks until fed,
//	                                           never returns past a record's end
//	  writes them <-- send callback --------- pipe.Write (the handshake's flights)
//	  Init a Conn <-- done callback --------- Handshake returned: secrets,
//	  from Secrets,                            version, suite, leftover bytes
//	  Open Leftover
//
// Because the pipe never hands crypto/tls a byte past the end of the
// record it is reading, a TLS 1.3 handshake stops exactly after the
// record holding the peer's Finished: every later byte (a client's first
// request, a server's session tickets) is still in the pipe (Leftover),
// to be opened by a Conn at sequence number 0. The traffic secrets come
// from the handshake's KeyLogWriter, which is the Handshake itself; they
// never leave it but through Secrets, and are never logged.
//
// A TLS 1.2 connection keeps its crypto/tls Conn (Is12): after the
// handshake the pipe stops blocking (a Read with nothing fed returns a
// temporary error, which crypto/tls retries later), and the loop drives
// it with ReadPlain and WritePlain.
type Handshake struct {
	cfg  *tls.Config
	role Role
	send func(h *Handshake, b []byte) // worker: bytes to write to the peer (b is the callee's)
	done func(h *Handshake)           // worker: the handshake is over

	mu       sync.Mutex
	cond     sync.Cond
	in       []byte // fed by the loop, not yet read by crypto/tls
	rec      int    // bytes left in the record being read, header included; 0: at a boundary
	hdr      [HeaderLen]byte
	hdrN     int
	aborted  bool
	finished bool // Handshake returned: Feed takes no more bytes (unless loop)
	loop     bool // TLS 1.2 after the handshake: the pipe never blocks

	// Set by the worker before done, read-only afterwards.
	err        error
	version    uint16
	suiteID    uint16
	alpn       string
	serverName string
	conn12     *tls.Conn
	secret     [2][maxSecret]byte // client, server application traffic secrets
	secretLen  [2]uint8
	// sentAlert is the plaintext alert crypto/tls sent (a failed hello), or
	// -1: alerts sent under the handshake keys cannot be read here.
	sentAlert int

	out []byte // TLS 1.2: records written by the kept Conn, for the loop

	// Data is the caller's: the connection the handshake belongs to.
	Data any
}

// NewServer returns the server side of a handshake with cfg, which is
// cloned (its KeyLogWriter is the Handshake's own; session tickets are
// disabled, so that the server's first application record is number 0).
// send is called on the worker with each flight crypto/tls writes (the
// slice is the callee's to keep), in order; done once the handshake is
// over, successful or not. Both must hand their work to the connection's
// event loop without blocking.
func NewServer(cfg *tls.Config, send func(*Handshake, []byte), done func(*Handshake)) *Handshake {
	return newHandshake(Server, cfg, send, done)
}

// NewClient is NewServer for the client side. cfg must name the server
// (ServerName) or skip verification. Session tickets the server sends
// after the handshake are ignored by Conn.
func NewClient(cfg *tls.Config, send func(*Handshake, []byte), done func(*Handshake)) *Handshake {
	return newHandshake(Client, cfg, send, done)
}

func newHandshake(role Role, cfg *tls.Config, send func(*Handshake, []byte), done func(*Handshake)) *Handshake {
	h := &Handshake{role: role, send: send, done: done, sentAlert: -1}
	h.cond.L = &h.mu
	c := cfg.Clone()
	c.KeyLogWriter = keyLog{h}
	c.SessionTicketsDisabled = true
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	h.cfg = c
	return h
}

// Feed hands the handshake bytes read from the peer (copied). It reports
// false, taking nothing, once a TLS 1.3 handshake has returned: those
// bytes are records for the Conn, after Leftover. A caller that feeds
// whole records only (see RecordsLen) gets a Leftover of whole records.
// Any goroutine.
func (h *Handshake) Feed(b []byte) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.finished && !h.loop {
		return false
	}
	if !h.aborted {
		h.in = append(h.in, b...)
		h.cond.Signal()
	}
	return true
}

// Buffered is the bytes fed and not yet read by crypto/tls.
func (h *Handshake) Buffered() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.in)
}

// Abort ends the handshake: its reads fail once what was fed is read (the
// connection closed, or timed out), and its writes fail. done is still
// called. Any goroutine.
func (h *Handshake) Abort() {
	h.mu.Lock()
	h.aborted = true
	h.cond.Broadcast()
	h.mu.Unlock()
}

// Err is why the handshake failed, or nil. Valid from done on.
func (h *Handshake) Err() error { return h.err }

// Version is the negotiated TLS version (tls.VersionTLS12 or 13).
func (h *Handshake) Version() uint16 { return h.version }

// CipherSuite is the negotiated suite's ID.
func (h *Handshake) CipherSuite() uint16 { return h.suiteID }

// NegotiatedProtocol is the ALPN protocol, or "".
func (h *Handshake) NegotiatedProtocol() string { return h.alpn }

// ServerName is the SNI the client sent (on a server), or "".
func (h *Handshake) ServerName() string { return h.serverName }

// SentAlert is the alert crypto/tls sent in the clear when it failed the
// handshake, and true; false when it sent none or sent it encrypted.
func (h *Handshake) SentAlert() (Alert, bool) {
	return Alert(h.sentAlert), h.sentAlert >= 0
}

// ReceivedAlert is the alert the peer sent that failed the handshake.
func (h *Handshake) ReceivedAlert() (Alert, bool) {
	var oe *net.OpError
	if errors.As(h.err, &oe) && oe.Op == "remote error" && oe.Err != nil {
		a, ok := alertByText[oe.Err.Error()]
		return a, ok
	}
	return 0, false
}

// Secrets are the application traffic secrets of a TLS 1.3 handshake as
// Conn.Init takes them: the peer's (in) and ours (out). They alias the
// Handshake: Init copies them, then call Wipe.
func (h *Handshake) Secrets() (in, out []byte) {
	c := h.secret[0][:h.secretLen[0]]
	s := h.secret[1][:h.secretLen[1]]
	if h.role == Server {
		return c, s
	}
	return s, c
}

// Wipe clears the secrets.
func (h *Handshake) Wipe() {
	clear(h.secret[0][:])
	clear(h.secret[1][:])
}

// Leftover returns the bytes fed after the handshake's last record (and
// forgets them): a TLS 1.3 connection's first records. Valid from done on.
func (h *Handshake) Leftover() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.in
	h.in = nil
	return b
}

// Is12 reports a TLS 1.2 connection: it keeps its crypto/tls Conn, driven
// by ReadPlain and WritePlain on the loop.
func (h *Handshake) Is12() bool { return h.conn12 != nil }

// run does the handshake on the calling goroutine (a Pool worker).
func (h *Handshake) run() {
	h.mu.Lock()
	aborted := h.aborted
	h.mu.Unlock()
	var err error
	var tc *tls.Conn
	if aborted {
		err = net.ErrClosed
	} else {
		if h.role == Server {
			tc = tls.Server(pipe{h}, h.cfg)
		} else {
			tc = tls.Client(pipe{h}, h.cfg)
		}
		err = tc.Handshake()
	}
	h.mu.Lock()
	h.finished = true
	h.cfg = nil
	if err == nil {
		st := tc.ConnectionState()
		h.version, h.suiteID, h.alpn, h.serverName = st.Version, st.CipherSuite, st.NegotiatedProtocol, st.ServerName
		switch {
		case st.Version == tls.VersionTLS12:
			h.conn12, h.loop = tc, true
		case h.secretLen[0] == 0 || h.secretLen[1] == 0:
			err = errors.New("tlsrec: the handshake logged no traffic secrets")
		}
	}
	h.err = err
	h.mu.Unlock()
	h.done(h)
}

// keyLog receives crypto/tls's NSS key-log lines ("LABEL <client random
// hex> <secret hex>\n") and keeps the two application traffic secrets.
type keyLog struct{ h *Handshake }

func (k keyLog) Write(line []byte) (int, error) {
	label, rest, _ := bytes.Cut(bytes.TrimSpace(line), []byte{' '})
	var i int
	switch string(label) {
	case "CLIENT_TRAFFIC_SECRET_0":
		i = 0
	case "SERVER_TRAFFIC_SECRET_0":
		i = 1
	default:
		return len(line), nil
	}
	_, secret, _ := bytes.Cut(rest, []byte{' '})
	if hex.DecodedLen(len(secret)) > maxSecret {
		return len(line), nil
	}
	n, err := hex.Decode(k.h.secret[i][:], secret)
	if err == nil {
		k.h.secretLen[i] = uint8(n)
	}
	return len(line), nil
}

// errWouldBlock is the pipe's "nothing buffered" after a TLS 1.2
// handshake: a temporary net.Error, which crypto/tls returns without
// failing the Conn (conn.go, readRecordOrCCS), so Read is retried at the
// next Feed.
var errWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "tlsrec: no bytes buffered" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// pipe is the net.Conn crypto/tls runs on.
type pipe struct{ h *Handshake }

// Read blocks until bytes are fed (during the handshake) and returns at
// most the rest of the current record.
func (p pipe) Read(b []byte) (int, error) {
	h := p.h
	h.mu.Lock()
	defer h.mu.Unlock()
	for len(h.in) == 0 && !h.aborted {
		if h.loop {
			return 0, errWouldBlock
		}
		h.cond.Wait()
	}
	if len(h.in) == 0 { // aborted: but what was fed is read first, so a
		return 0, net.ErrClosed // handshake whose peer closed right after its Finished completes
	}
	n := min(len(b), len(h.in))
	if !h.loop {
		n = min(n, h.recordLeft())
	}
	copy(b, h.in[:n])
	h.consume(n)
	return n, nil
}

// recordLeft is how many of the fed bytes belong to the record being
// read: up to its header's end while the header is incomplete, then up to
// its body's end. Locked.
func (h *Handshake) recordLeft() int {
	if h.hdrN < HeaderLen {
		return HeaderLen - h.hdrN
	}
	return h.rec
}

// consume drops n read bytes, following record boundaries. Locked.
func (h *Handshake) consume(n int) {
	b := h.in[:n]
	for len(b) > 0 {
		if h.hdrN < HeaderLen {
			k := copy(h.hdr[h.hdrN:], b)
			h.hdrN += k
			b = b[k:]
			if h.hdrN == HeaderLen {
				h.rec = int(h.hdr[3])<<8 | int(h.hdr[4])
				if h.rec == 0 {
					h.hdrN = 0
				}
			}
			continue
		}
		k := min(len(b), h.rec)
		h.rec -= k
		b = b[k:]
		if h.rec == 0 {
			h.hdrN = 0
		}
	}
	if n == len(h.in) {
		h.in = h.in[:0]
	} else {
		h.in = h.in[n:]
	}
}

// Write sends a flight (during the handshake) or buffers records for the
// loop (TLS 1.2 after it).
func (p pipe) Write(b []byte) (int, error) {
	h := p.h
	h.mu.Lock()
	loop, aborted := h.loop, h.aborted
	if loop {
		h.out = append(h.out, b...)
	}
	h.mu.Unlock()
	switch {
	case loop:
	case aborted:
		return 0, net.ErrClosed
	default:
		if len(b) >= HeaderLen+2 && ContentType(b[0]) == TypeAlert && b[3] == 0 && b[4] == 2 {
			h.sentAlert = int(b[HeaderLen+1])
		}
		h.send(h, slices.Clone(b))
	}
	return len(b), nil
}

func (p pipe) Close() error {
	p.h.Abort()
	return nil
}

// The pipe has no deadlines: the loop's sweep times a handshake out and
// Aborts it.
func (pipe) LocalAddr() net.Addr              { return pipeAddr{} }
func (pipe) RemoteAddr() net.Addr             { return pipeAddr{} }
func (pipe) SetDeadline(time.Time) error      { return nil }
func (pipe) SetReadDeadline(time.Time) error  { return nil }
func (pipe) SetWriteDeadline(time.Time) error { return nil }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "tlsrec" }
func (pipeAddr) String() string  { return "event-loop" }

// ReadPlain (TLS 1.2) appends to dst the application data of the records
// fed so far, leaving a partial record buffered. An error ends the
// connection (io.EOF: the peer's close_notify). Loop only.
func (h *Handshake) ReadPlain(dst []byte) ([]byte, error) {
	for {
		dst = slices.Grow(dst, 4096)
		n, err := h.conn12.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err != nil {
			if errors.Is(err, errWouldBlock) {
				err = nil
			}
			return dst, err
		}
	}
}

// WritePlain (TLS 1.2) seals data and returns the records to send, valid
// until the next WritePlain or CloseNotify. Records the Conn wrote by
// itself meanwhile (an alert refusing a renegotiation) come first. Loop
// only.
func (h *Handshake) WritePlain(data []byte) ([]byte, error) {
	_, err := h.conn12.Write(data)
	out := h.out
	h.out = h.out[:0]
	return out, err
}

// Pending (TLS 1.2) returns the records the Conn wrote by itself while
// reading (an alert), valid until the next call. Loop only.
func (h *Handshake) Pending() []byte {
	out := h.out
	h.out = h.out[:0]
	return out
}

// CloseNotify (TLS 1.2) returns the close_notify alert record. Loop only.
func (h *Handshake) CloseNotify() []byte {
	_ = h.conn12.CloseWrite()
	return h.Pending()
}

// Held12 estimates the heap a kept TLS 1.2 Conn holds between events: its
// record buffers keep their capacity (see TestHeld12).
func (h *Handshake) Held12() int {
	return held12 + cap(h.in) + cap(h.out)
}

// held12 is the heap a kept TLS 1.2 crypto/tls Conn and its Handshake hold
// once idle, as allocated, measured with Go 1.26 (TestHeld12).
const held12 = 8 << 10

// HandshakeHeld is the heap a server handshake in flight holds, as
// allocated: crypto/tls's Conn, its handshake state and key shares
// (X25519MLKEM768 included), the cloned config (TestHandshakeHeld). The
// bytes fed to it come on top (Buffered).
const HandshakeHeld = 16 << 10
