package engine

import (
	"strconv"
	"sync/atomic"
	"time"
)

// Reason is why a connection was refused before it opened.
type Reason uint8

const (
	ReasonBadRequest     Reason = iota // malformed request line or header, no Host
	ReasonHTTPVersion                  // not HTTP/1.1
	ReasonNotFound                     // unknown path
	ReasonMethod                       // not GET
	ReasonUpgradeHeaders               // missing/invalid Upgrade or Connection
	ReasonKey                          // missing/invalid Sec-WebSocket-Key
	ReasonWSVersion                    // Sec-WebSocket-Version is not 13
	ReasonHeaderTooLarge               // head larger than MaxHeaderBytes
	ReasonTimeout                      // no complete request within HandshakeTimeout
	ReasonMaxConns                     // MaxConns reached
	ReasonMaxConnsPerIP                // MaxConnsPerIP reached for the peer's address
	ReasonOrigin                       // Origin not in AllowedOrigins
	ReasonDraining                     // the server is shutting down
	ReasonFDLimit                      // the process is at its descriptor limit (RLIMIT_NOFILE)
	ReasonUpgradeBusy                  // the UpgradeWorkers' queue is full
	NumReasons
)

var reasonNames = [NumReasons]string{"bad_request", "http_version", "not_found", "method", "upgrade_headers",
	"key", "ws_version", "header_too_large", "timeout", "max_conns", "max_conns_per_ip", "origin", "draining", "fd_limit", "upgrade_busy"}

func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "reason" + strconv.Itoa(int(r))
}

// Close-code buckets of Stats.Closes: 1000..1015 each, then the
// application/private range 3000-4999, then anything else.
const (
	closeBucketApp   = 16
	closeBucketOther = 17
	NumCloseBuckets  = 18
)

// CloseBucketLabel names bucket i of Stats.Closes.
func CloseBucketLabel(i int) string {
	switch {
	case i < closeBucketApp:
		return strconv.Itoa(1000 + i)
	case i == closeBucketApp:
		return "3000-4999"
	}
	return "other"
}

func closeBucket(code uint16) int {
	switch {
	case code >= 1000 && code < 1000+closeBucketApp:
		return int(code - 1000)
	case code >= 3000 && code <= 4999:
		return closeBucketApp
	}
	return closeBucketOther
}

// counters are the server-wide counters. Connection events (not per
// message) update them directly; per-frame counts are kept per loop.
type counters struct {
	accepted      atomic.Int64
	upgrades      atomic.Int64
	slowConsumers atomic.Int64
	evicted       [NumDirs]atomic.Int64 // by direction, see memory.go
	msgTimeouts   atomic.Int64
	releases      atomic.Int64 // see release.go
	refused       [NumReasons]atomic.Int64
	refusedBy     refusedBy // Upgrader refusals, by Refusal.Reason
	closes        [NumCloseBuckets]atomic.Int64
	deflateConns  atomic.Int64 // upgrades that negotiated permessage-deflate
	deflateOpen   atomic.Int64 // of those, the connections still open
	inflateErrors atomic.Int64 // compressed messages that failed to inflate
}

// loopCounters are one loop's frame and byte counts. The loop accumulates
// into plain fields during an event and publishes them with one atomic add
// each at its end: no shared cache line is written per frame.
type loopCounters struct {
	framesIn, framesOut, bytesIn, bytesOut atomic.Int64
	lagMax                                 atomic.Int64 // max sweep delay since the last Stats, ns
	posted                                 atomic.Int64 // when the pending sweep was posted, ns

	nFramesIn, nFramesOut, nBytesIn, nBytesOut int64 // loop only, not yet published
}

func (lc *loopCounters) publish() {
	if lc.nFramesIn|lc.nFramesOut|lc.nBytesIn|lc.nBytesOut == 0 {
		return
	}
	lc.framesIn.Add(lc.nFramesIn)
	lc.framesOut.Add(lc.nFramesOut)
	lc.bytesIn.Add(lc.nBytesIn)
	lc.bytesOut.Add(lc.nBytesOut)
	lc.nFramesIn, lc.nFramesOut, lc.nBytesIn, lc.nBytesOut = 0, 0, 0, 0
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	OpenConns     int64 // open WebSocket connections
	Accepted      int64 // TCP connections accepted
	Upgrades      int64 // WebSocket connections opened
	SlowConsumers int64 // connections closed for exceeding MaxOutboundBytes
	Refused       [NumReasons]int64
	// RefusedBy counts the refusals of Upgraders (see Refusal.Reason), apart
	// from Refused's, which are the engine's own.
	RefusedBy map[string]int64
	Closes    [NumCloseBuckets]int64 // by close code, see CloseBucketLabel
	FramesIn  int64
	FramesOut int64
	BytesIn   int64
	BytesOut  int64
	// Evicted counts the connections closed to keep the node under
	// MemoryBudget, by direction (DirInbound, DirOutbound: what most of
	// their held bytes were).
	Evicted [NumDirs]int64
	// HeldBytes is the node-wide total of the connections' held bytes (see
	// memory.go); MemoryBudget is the configured budget (0: none).
	HeldBytes    int64
	MemoryBudget int64
	// MessageTimeouts counts connections closed with 1008 because a frame or
	// fragmented message did not complete within MessageTimeout.
	MessageTimeouts int64
	// MemoryReleases counts the times memory was handed back to the OS
	// after an eviction.
	MemoryReleases int64
	// LoopLag is, per loop, the longest delay between the ticker posting a
	// timer sweep and the loop running it, since the previous Stats call: how
	// long work waits for a busy loop.
	LoopLag  []time.Duration
	Draining bool
	// DeflateConns counts the upgrades that negotiated permessage-deflate;
	// InflateErrors the compressed messages that closed their connection
	// (over MaxMessageSize once inflated, not deflate, or bad UTF-8).
	DeflateConns  int64
	InflateErrors int64
	DeflateOpen   int64 // open connections that negotiated permessage-deflate
	// TLS counts TLS handshakes, KeyUpdates and alerts (Config.TLS).
	TLS TLSStats
}

// Stats returns the counters. Safe from any goroutine.
func (s *Server) Stats() Stats {
	st := Stats{
		OpenConns:     s.openConns.Load(),
		Accepted:      s.stats.accepted.Load(),
		Upgrades:      s.stats.upgrades.Load(),
		SlowConsumers: s.stats.slowConsumers.Load(),
		RefusedBy:     s.stats.refusedBy.snapshot(),
		Draining:      s.draining.Load(),
		DeflateConns:  s.stats.deflateConns.Load(),
		InflateErrors: s.stats.inflateErrors.Load(),
		DeflateOpen:   s.stats.deflateOpen.Load(),

		HeldBytes:       s.held.Load(),
		MemoryBudget:    s.cfg.MemoryBudget,
		MessageTimeouts: s.stats.msgTimeouts.Load(),
		MemoryReleases:  s.stats.releases.Load(),
		TLS:             s.tls.stats(),
	}
	for i := range st.Evicted {
		st.Evicted[i] = s.stats.evicted[i].Load()
	}
	for i := range st.Refused {
		st.Refused[i] = s.stats.refused[i].Load()
	}
	for i := range st.Closes {
		st.Closes[i] = s.stats.closes[i].Load()
	}
	for _, l := range s.Loops() {
		st.FramesIn += l.counters.framesIn.Load()
		st.FramesOut += l.counters.framesOut.Load()
		st.BytesIn += l.counters.bytesIn.Load()
		st.BytesOut += l.counters.bytesOut.Load()
		st.LoopLag = append(st.LoopLag, time.Duration(l.counters.lagMax.Swap(0)))
	}
	return st
}
