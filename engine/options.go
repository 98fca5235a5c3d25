package engine

import (
	"crypto/tls"
	"log/slog"
	"runtime"
	"time"

	"edgews/codec"
)

// Defaults used for the zero fields of Config.
const (
	DefaultAddr             = ":8080"
	DefaultTimeout          = 75 * time.Second
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultCloseTimeout     = 3 * time.Second
	DefaultMaxHeaderBytes   = 8 << 10
	DefaultMaxOutboundBytes = 1 << 20
	DefaultMessageTimeout   = 30 * time.Second
	// DefaultTLSHandshakeWorkers is the TLS handshakes in progress per CPU
	// core when Config.TLSHandshakeWorkers is zero: a handshake's CPU is
	// about 0.3 ms of a core (ECDSA P-256), and a worker also waits the
	// client's round trip, so a few per core keep the cores busy at
	// loopback or LAN latency (over a 50 ms round trip, 16 workers do at
	// most ~300 handshakes/s: raise it for distant clients).
	DefaultTLSHandshakeWorkers = 8

	// DefaultCompressionThreshold is the smallest message compressed when
	// Compression is on: below it deflate saves a few bytes at best and
	// costs the same fixed work per message.
	DefaultCompressionThreshold = 128
	// DefaultCompressionLevel is the deflate level when Compression is on:
	// the fastest (see codec.DefaultDeflateLevel).
	DefaultCompressionLevel = codec.DefaultDeflateLevel
)

// Config configures a Server. The zero value works: every field documents
// what zero means.
type Config struct {
	// Addr is the TCP address to listen on. If empty, DefaultAddr.
	Addr string
	// Loops is the number of event loops. If zero, one per CPU core.
	Loops int
	// PingPeriod is how often the server pings each connection. Zero disables
	// server pings (the Ktor default). Connections may override it.
	PingPeriod time.Duration
	// Timeout closes a connection from which no frame (of any kind, pongs
	// included) arrived for this long: a close 1001 is sent, and TCP is closed
	// if the close handshake does not finish within CloseTimeout.
	// If zero, DefaultTimeout; negative disables it.
	Timeout time.Duration
	// HandshakeTimeout closes a connection that has not completed its HTTP
	// upgrade this long after it was accepted. If zero, DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// CloseTimeout bounds the wait for the peer's close frame after the server
	// sent one. If zero, DefaultCloseTimeout.
	CloseTimeout time.Duration
	// MaxFrameSize and MaxMessageSize bound a frame's payload and a (fragmented)
	// message; larger ones are closed with 1009 as soon as the header arrives.
	// If zero, codec.DefaultMaxFrameSize and codec.DefaultMaxMessageSize.
	MaxFrameSize   int64
	MaxMessageSize int64
	// MaxHeaderBytes bounds the upgrade request's request line and headers;
	// larger requests get 431. If zero, DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// MaxOutboundBytes bounds the bytes queued for one connection that the
	// kernel has not accepted yet; a connection over it is a slow consumer and
	// is closed with 1008. One frame larger than half of it, queued to a
	// connection with at most half of it unread, is let through and raises
	// the bound by its size until the peer has read it: a single large frame
	// is not what makes a reader slow. If zero, DefaultMaxOutboundBytes.
	MaxOutboundBytes int
	// MemoryBudget bounds the bytes the node holds for all its connections
	// together: partial frames and requests in gnet's inbound buffers,
	// fragmented messages, and output the peers have not taken yet, counted
	// as allocated capacity (see memory.go). When the total passes it, the
	// connections holding the most are closed, largest first, until the
	// total is under 90% of it: with close 1013 "try again later", or a TCP
	// close for a peer that cannot take that frame. Zero means no budget.
	MemoryBudget int64
	// MessageTimeout closes with 1008 a connection whose frame, or
	// fragmented message, has not arrived whole this long after its first
	// byte, so a slow body cannot hold memory until Timeout. The timer
	// sweep checks it. If zero, DefaultMessageTimeout; negative disables it.
	MessageTimeout time.Duration
	// ReusePort sets SO_REUSEPORT so several node processes can share Addr.
	ReusePort bool
	// SocketRecvBuffer and SocketSendBuffer set SO_RCVBUF/SO_SNDBUF on every
	// connection. If zero, the kernel's defaults (autotuned).
	SocketRecvBuffer int
	SocketSendBuffer int
	// MaxConns caps the open WebSocket connections; upgrades beyond it are
	// refused with 503. Zero means no cap.
	MaxConns int
	// MaxConnsPerIP caps the open WebSocket connections from one IP address;
	// upgrades beyond it are refused with 429. Zero means no cap.
	MaxConnsPerIP int
	// AllowedOrigins, if not empty, lists the Origin header values a browser
	// may upgrade from; others are refused with 403. An entry is an exact
	// origin ("https://chat.example.com"), or a pattern with one "*" in the
	// host ("https://*.example.com"). Requests without Origin (programs, not
	// browsers) are allowed: Origin protects browsers' users from cross-site
	// WebSocket hijacking, it cannot authenticate a program.
	AllowedOrigins []string
	// KeepHeaders names the request headers a connection keeps after
	// OnOpen for Conn.Request().Header. During OnOpen every header is
	// available; afterwards only these (case-insensitive), because a
	// browser's request head is ~500 bytes and a million connections would
	// hold half a gigabyte of it. If nil, none are kept.
	KeepHeaders []string
	// Compression negotiates permessage-deflate (RFC 7692) with clients that
	// offer it (every browser does); see codec.NegotiateDeflate for the
	// offers accepted. Compressed messages from the client are inflated
	// (bounded by MaxMessageSize), and Conn.Send compresses messages of at
	// least CompressionThreshold bytes. A connection that negotiated it
	// holds no flate state: one inflater and one deflater per loop serve
	// all its connections. If false, the extension is never negotiated.
	Compression bool
	// CompressionThreshold is the smallest payload, in bytes, that is sent
	// compressed; smaller ones go out uncompressed (RSV1 clear), which RFC
	// 7692 allows per message. If zero, DefaultCompressionThreshold;
	// negative compresses every message.
	CompressionThreshold int
	// CompressionLevel is the deflate level, 1 (fastest) to 9 (smallest).
	// If zero (or out of range), DefaultCompressionLevel.
	CompressionLevel int
	// UpgradeWorkers, if positive, runs the Upgraders' Upgrade on this many
	// goroutines off the event loops: the handshake waits (its bytes stay
	// buffered, HandshakeTimeout still applies) and resumes on its loop
	// through Loop.Post. Bytes the peer sends behind the request meanwhile
	// are charged to MemoryBudget, and more than MaxHeaderBytes plus 4 KiB
	// of request and early bytes together is refused with 400. At most 1,024 requests per worker wait; beyond
	// that upgrades get 503 (ReasonUpgradeBusy). If zero,
	// Upgrade runs on the loop (see Upgrader for when that is better).
	UpgradeWorkers int
	// TLS, if not nil, serves TLS on Addr: every connection does a TLS
	// handshake (crypto/tls, with this configuration, on
	// TLSHandshakeWorkers goroutines off the loops), then the upgrade or
	// the HTTP routes inside it. After a TLS 1.3 handshake the connection
	// keeps only its keys: the engine's record layer (codec/tlsrec) runs
	// on the loops. TLS 1.2 connections, if MinVersion allows them, keep a
	// crypto/tls Conn. MinVersion below 1.2 is raised to 1.2; empty
	// NextProtos means "http/1.1"; session tickets are off (every
	// handshake is a full one). Certificates are read through the config
	// at each handshake: a GetCertificate that swaps them reloads without
	// a restart. HandshakeTimeout covers the TLS handshake and the
	// upgrade together. See tls.go.
	TLS *tls.Config
	// TLSHandshakeWorkers is how many TLS handshakes run at once, each on
	// its own goroutine (fixed, never one per connection), from the first
	// complete ClientHello to the client's Finished: a worker also waits
	// the client's round trip. More wait in a queue of 1,024 per worker
	// (their bytes in the loops' buffers, charged to MemoryBudget); beyond
	// that connections are closed. If zero, DefaultTLSHandshakeWorkers
	// per CPU core.
	TLSHandshakeWorkers int
	// Logger receives the engine's logs: connection lifecycle and every
	// refused connection's reason at debug, slow consumers at warn
	// (rate-limited), nothing per message. If nil, logs are discarded.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Loops <= 0 {
		c.Loops = runtime.NumCPU()
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = DefaultCloseTimeout
	}
	if c.MaxFrameSize <= 0 {
		c.MaxFrameSize = codec.DefaultMaxFrameSize
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = codec.DefaultMaxMessageSize
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.MaxOutboundBytes <= 0 {
		c.MaxOutboundBytes = DefaultMaxOutboundBytes
	}
	if c.CompressionThreshold == 0 {
		c.CompressionThreshold = DefaultCompressionThreshold
	} else if c.CompressionThreshold < 0 {
		c.CompressionThreshold = 0
	}
	if c.CompressionLevel < 1 || c.CompressionLevel > 9 {
		c.CompressionLevel = DefaultCompressionLevel
	}
	if c.MessageTimeout == 0 {
		c.MessageTimeout = DefaultMessageTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.TLSHandshakeWorkers <= 0 {
		c.TLSHandshakeWorkers = DefaultTLSHandshakeWorkers * runtime.NumCPU()
	}
	return c
}

// tickPeriod is how often each loop sweeps its connections: a quarter of the
// shortest timer in use, so a deadline is acted on at most 25% late, bounded
// to [10ms, 1s] so that a million idle connections cost a bounded sweep rate.
func (c Config) tickPeriod() time.Duration {
	d := c.HandshakeTimeout
	for _, v := range []time.Duration{c.PingPeriod, c.Timeout, c.CloseTimeout, c.MessageTimeout} {
		if v > 0 && v < d {
			d = v
		}
	}
	d /= 4
	return min(max(d, 10*time.Millisecond), time.Second)
}
