package engine

import (
	"crypto/tls"
	"sync/atomic"
	"time"

	"edgews/codec/tlsrec"
)

// TLS on the event loops (Config.TLS). A connection of a TLS server goes
// through these phases, all on its loop but the handshake itself:
//
//	tlsHello      the ClientHello is arriving: gnet buffers it, ScanHello
//	              judges it (a plain HTTP request gets a 400, garbage an
//	              alert), HandshakeTimeout runs from the accept; no worker yet
//	tlsHandshake  crypto/tls does the handshake on a pool worker
//	              (tlsrec.Handshake): whole records go to it as they
//	              arrive, its flights come back as tasks that write them
//	tls13         the connection keeps its keys in a tlsrec.Conn inside the
//	              tlsConn; the upgrade request, frames and the HTTP routes
//	              run on the plaintext as on a plain connection
//	tls12         the same over a kept crypto/tls Conn (tlsrec.Handshake's
//	              ReadPlain/WritePlain)
//
// Reads (tlsTraffic) open the records gnet buffered in place and hand the
// plaintext to onTraffic through peekIn/discardIn; a partial frame or
// request is carried to the next read in the connection's tlsMore. Writes
// go through Conn.writev as on a plain connection: flush's frames (a
// shared broadcast frame among them) are sealed at that moment into the
// loop's scratch, packed into as few records as fit (16 KiB each), and
// written with one write per 64 KiB.
//
// Memory (memory.go's extraHeld): a handshake in flight is charged
// tlsrec.HandshakeHeld (measured at 12 KB) plus the bytes fed to it; a carried plaintext its
// capacity; the AEADs a connection has built (tlsrec.Conn.HeldAEAD, which
// the sweep drops once a connection is idle); a TLS 1.2 connection its
// kept crypto/tls Conn (Handshake.Held12). Partial records wait in gnet's
// inbound buffer and sealed bytes the peer has not taken in its outbound
// buffer, both charged as on a plain connection.

// tlsQueuePerWorker bounds the handshakes waiting for each worker; more
// are closed (TLSBusy). A var for tests.
var tlsQueuePerWorker = 1024

// tlsServer is a TLS server's handshake pool, configuration and counters.
type tlsServer struct {
	cfg     *tls.Config // Config.TLS, prepared by newTLSServer
	workers int
	pool    *tlsrec.Pool
	st      tlsCounters
}

// newTLSServer prepares cfg.TLS, or returns nil for a plain server.
func newTLSServer(cfg Config) *tlsServer {
	if cfg.TLS == nil {
		return nil
	}
	c := cfg.TLS.Clone()
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	if len(c.NextProtos) == 0 {
		c.NextProtos = []string{"http/1.1"}
	}
	c.SessionTicketsDisabled = true
	return &tlsServer{cfg: c, workers: cfg.TLSHandshakeWorkers}
}

func (t *tlsServer) start() {
	if t != nil {
		t.pool = tlsrec.NewPool(t.workers, t.workers*tlsQueuePerWorker)
	}
}

// stop ends the workers. After the loops stopped: every connection was
// closed (OnClose aborted its handshake), and nothing submits any more.
func (t *tlsServer) stop() {
	if t != nil && t.pool != nil {
		t.pool.Close()
	}
}

// newConn allocates a connection's state: a Conn, or on a TLS server a
// tlsConn whose first field is the Conn (see tlsOf).
func (s *Server) newConn() *Conn {
	if s.tls == nil {
		return new(Conn)
	}
	return &new(tlsConn).Conn
}

// TLSOutcome is how a TLS handshake ended, for Stats.TLS.
type TLSOutcome uint8

const (
	TLSOK      TLSOutcome = iota // completed
	TLSFailed                    // crypto/tls failed it (bad certificate, no common cipher, ...): an alert was sent or received
	TLSVersion                   // an old protocol (SSL, TLS 1.0/1.1, or 1.2 under MinVersion 1.3): protocol_version
	TLSTimeout                   // not complete within HandshakeTimeout (a trickled or missing ClientHello)
	TLSClosed                    // the client left before the end
	TLSBusy                      // the handshake queue was full (TLSHandshakeWorkers)
	TLSNotTLS                    // the first bytes were not a ClientHello: unexpected_message or record_overflow
	TLSHTTP                      // a plain HTTP request on the TLS port: answered 400
	TLSACME                      // an ACME TLS-ALPN-01 validation ("acme-tls/1"): closed after the handshake
	NumTLSOutcomes
)

var tlsOutcomeNames = [NumTLSOutcomes]string{"ok", "failed", "version", "timeout", "closed", "busy", "not_tls", "http", "acme"}

func (o TLSOutcome) String() string { return tlsOutcomeNames[o] }

// TLSHandshakeBuckets are the upper bounds, in seconds, of
// TLSStats.HandshakeSeconds: from the accept to the end of a completed
// handshake (the client's round trips, the queue and crypto/tls's work).
var TLSHandshakeBuckets = tlsBuckets[:]

var tlsBuckets = [...]float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// tlsCounters are a TLS server's counters, updated per handshake, per
// KeyUpdate and per alert (never per record).
type tlsCounters struct {
	outcomes    [NumTLSOutcomes]atomic.Int64
	versions    [2]atomic.Int64 // completed: TLS 1.2, TLS 1.3
	seconds     [len(tlsBuckets) + 1]atomic.Int64
	secondsSum  atomic.Int64 // ns
	kuIn, kuOut atomic.Int64
	alerts      [2][256]atomic.Int64 // sent, received
}

func (t *tlsServer) count(o TLSOutcome) { t.st.outcomes[o].Add(1) }

func (t *tlsServer) alert(a tlsrec.Alert, received bool) {
	i := 0
	if received {
		i = 1
	}
	t.st.alerts[i][a].Add(1)
}

// completed counts a handshake that ended well after d.
func (t *tlsServer) completed(version uint16, d time.Duration) {
	t.count(TLSOK)
	if version == tls.VersionTLS13 {
		t.st.versions[1].Add(1)
	} else {
		t.st.versions[0].Add(1)
	}
	i := 0
	for i < len(tlsBuckets) && d.Seconds() > tlsBuckets[i] {
		i++
	}
	t.st.seconds[i].Add(1)
	t.st.secondsSum.Add(int64(d))
}

// TLSStats are a TLS server's counters (Stats.TLS; all zero without
// Config.TLS).
type TLSStats struct {
	// Handshakes counts the handshakes by how they ended (TLSOutcome).
	Handshakes [NumTLSOutcomes]int64
	// Versions counts the completed handshakes by version: TLS 1.2, 1.3.
	Versions [2]int64
	// HandshakeSeconds counts the completed handshakes by duration, one
	// entry per TLSHandshakeBuckets bound and a last one for longer
	// (not cumulative); HandshakeSecondsSum is their total.
	HandshakeSeconds    []int64
	HandshakeSecondsSum float64
	// KeyUpdates received from clients and sent (answers to a client's
	// update_requested).
	KeyUpdatesReceived, KeyUpdatesSent int64
	// AlertsSent and AlertsReceived count alerts by name ("bad_record_mac";
	// see tlsrec.Alert), handshakes' and records' alike; only those seen.
	AlertsSent, AlertsReceived map[string]int64
	// HandshakesRunning and HandshakesQueued are the handshakes on the
	// workers and waiting for one now; HandshakesPeak the most that ran at
	// once.
	HandshakesRunning, HandshakesPeak int64
	HandshakesQueued                  int
}

// stats snapshots the counters.
func (t *tlsServer) stats() TLSStats {
	var st TLSStats
	if t == nil {
		return st
	}
	for i := range st.Handshakes {
		st.Handshakes[i] = t.st.outcomes[i].Load()
	}
	for i := range st.Versions {
		st.Versions[i] = t.st.versions[i].Load()
	}
	st.HandshakeSeconds = make([]int64, len(t.st.seconds))
	for i := range st.HandshakeSeconds {
		st.HandshakeSeconds[i] = t.st.seconds[i].Load()
	}
	st.HandshakeSecondsSum = time.Duration(t.st.secondsSum.Load()).Seconds()
	st.KeyUpdatesReceived, st.KeyUpdatesSent = t.st.kuIn.Load(), t.st.kuOut.Load()
	st.AlertsSent, st.AlertsReceived = map[string]int64{}, map[string]int64{}
	for a := range 256 {
		if n := t.st.alerts[0][a].Load(); n != 0 {
			st.AlertsSent[tlsrec.Alert(a).String()] = n
		}
		if n := t.st.alerts[1][a].Load(); n != 0 {
			st.AlertsReceived[tlsrec.Alert(a).String()] = n
		}
	}
	if t.pool != nil {
		st.HandshakesRunning, st.HandshakesPeak, st.HandshakesQueued = t.pool.Running(), t.pool.Peak(), t.pool.Queued()
	}
	return st
}
