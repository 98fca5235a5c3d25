package main

import (
	"net/http"
	"net/http/pprof"
	"strconv"

	"edgews/engine"
	"edgews/engine/mempolicy"
	"edgews/hub"
	"edgews/hub/auth"
	"edgews/hub/cluster"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// collector exports the engine's and the hub's counters. It reads their
// atomics when Prometheus scrapes, so the message path never touches a
// Prometheus metric: counting costs an atomic add per event, not a lookup
// or an allocation per frame.
type collector struct {
	srv *engine.Server
	hub *hub.Hub

	open, accepted, upgrades, slow, draining *prometheus.Desc
	refused, closes, lag                     *prometheus.Desc
	framesIn, framesOut, bytesIn, bytesOut   *prometheus.Desc
	users, broadcasts, deliveries, whispers  *prometheus.Desc
	rateLimited, rateKicks, tooLong          *prometheus.Desc
	authTokens, authJWKS                     *prometheus.Desc
	historyMsgs, historyBytes, historyResets *prometheus.Desc
	sharedStored, sharedConflicts            *prometheus.Desc
	sharedDropped, sharedUnshared            *prometheus.Desc
	sharedConsumer, sharedRetries            *prometheus.Desc
	held, budget, evicted, msgTimeouts       *prometheus.Desc
	releases                                 *prometheus.Desc
	deflateConns, deflateOpen, inflateErrors *prometheus.Desc
	compressed                               *prometheus.Desc

	release *mempolicy.Releaser // returns memory after connection waves
}

func newCollector(srv *engine.Server, h *hub.Hub, release *mempolicy.Releaser) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("wsnode_"+name, help, labels, nil)
	}
	return &collector{
		srv: srv, hub: h, release: release,
		open:        d("connections_open", "Open WebSocket connections."),
		accepted:    d("connections_accepted_total", "TCP connections accepted."),
		upgrades:    d("connections_total", "WebSocket connections opened."),
		slow:        d("slow_consumer_closes_total", "Connections closed for exceeding --max-outbound-bytes."),
		draining:    d("draining", "1 while the node drains for shutdown."),
		refused:     d("handshake_failures_total", "Connections refused before they opened, by reason.", "reason"),
		closes:      d("closes_total", "Closed WebSocket connections by close code (1006: TCP ended without a close frame).", "code"),
		lag:         d("event_loop_lag_seconds", "Longest wait of a timer sweep for its busy event loop since the last scrape.", "loop"),
		framesIn:    d("frames_in_total", "WebSocket frames received."),
		framesOut:   d("frames_out_total", "WebSocket frames sent."),
		bytesIn:     d("bytes_in_total", "Bytes received (handshakes and frames)."),
		bytesOut:    d("bytes_out_total", "Frame bytes sent."),
		users:       d("chat_users", "Connected chat users."),
		broadcasts:  d("broadcasts_total", "Chat messages fanned out."),
		deliveries:  d("broadcast_deliveries_total", "Chat frames delivered to recipients."),
		whispers:    d("whispers_total", "Private chat messages delivered."),
		rateLimited: d("rate_limited_total", "Chat messages dropped by the per-connection rate limit (--chat-rate)."),
		rateKicks:   d("rate_limit_closes_total", "Connections closed with 1008 for flooding (--chat-max-strikes)."),
		tooLong:     d("chat_too_long_total", "Chat lines refused for exceeding --chat-max-line."),
		authTokens:  d("auth_tokens_total", "Connect and refresh tokens verified (result ok) or refused (result: the reason); refused upgrades are also in handshake_failures_total as auth_<reason>.", "result"),
		authJWKS:    d("auth_jwks_fetches_total", "JWKS fetches by result (error: the last good key set was kept).", "result"),

		historyMsgs:   d("history_messages", "Messages kept in the rooms' history on this node (--history)."),
		historyBytes:  d("history_bytes", "Memory of the rooms' history as counted against --history-max-bytes."),
		historyResets: d("history_resets_total", "History events that told a resuming client it missed messages (stale epoch or offset)."),

		sharedStored:    d("history_shared_stored_total", "Messages this node stored in the cluster's history stream (--history-shared)."),
		sharedConflicts: d("history_shared_conflicts_total", "Stores retried because another node stored first in the room."),
		sharedDropped:   d("history_shared_dropped_total", "Messages not stored (so not delivered): queue full, NATS unavailable, too many conflicts."),
		sharedUnshared:  d("history_shared_foreign_total", "Chat messages from nodes without --history-shared, dropped by this node (every node of a cluster must run with it, or none)."),
		sharedConsumer:  d("history_shared_consumer_up", "1 while the shared history's consumer exists (0: messages are stored, none delivered; /healthz says 503)."),
		sharedRetries:   d("history_shared_consumer_retries_total", "Failed attempts to create the shared history's consumer."),
		held:            d("held_bytes", "Bytes held for all connections (partial frames and messages, unsent output), as allocated."),
		budget:          d("memory_budget_bytes", "--memory-budget (0: none)."),
		evicted:         d("memory_evictions_total", "Connections closed (1013) to stay under --memory-budget, by what they mostly held.", "direction"),
		msgTimeouts:     d("message_timeouts_total", "Connections closed (1008) for a frame or message not complete within --message-timeout."),
		deflateConns:    d("deflate_connections_total", "WebSocket connections that negotiated permessage-deflate (--compression on)."),
		deflateOpen:     d("deflate_connections_open", "Open connections that negotiated permessage-deflate."),
		inflateErrors:   d("inflate_errors_total", "Compressed messages that closed their connection: over --max-message-size once inflated (1009), not deflate (1002) or bad UTF-8 (1007)."),
		compressed:      d("compressed_frames_total", "Chat frames compressed: once per broadcast and format, or once per reply or whisper."),
		releases:        d("memory_releases_total", "Times freed memory was returned to the OS, by cause: an eviction (--memory-budget) or the end of a wave of connections (go_gc_gogc_percent and go_gc_gomemlimit_bytes show --gogc and --memory-limit).", "cause"),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.srv.Stats()
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v int64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	gauge(c.open, float64(st.OpenConns))
	counter(c.accepted, st.Accepted)
	counter(c.upgrades, st.Upgrades)
	counter(c.slow, st.SlowConsumers)
	draining := 0.0
	if st.Draining {
		draining = 1
	}
	gauge(c.draining, draining)
	for r, n := range st.Refused {
		counter(c.refused, n, engine.Reason(r).String())
	}
	for r, n := range st.RefusedBy { // the handlers' own reasons (auth_expired, ...)
		counter(c.refused, n, r)
	}
	for i, n := range st.Closes {
		counter(c.closes, n, engine.CloseBucketLabel(i))
	}
	for i, d := range st.LoopLag {
		gauge(c.lag, d.Seconds(), strconv.Itoa(i))
	}
	counter(c.framesIn, st.FramesIn)
	counter(c.framesOut, st.FramesOut)
	counter(c.bytesIn, st.BytesIn)
	counter(c.bytesOut, st.BytesOut)
	hs := c.hub.Stats()
	gauge(c.users, float64(c.hub.Users()))
	counter(c.broadcasts, hs.Broadcasts.Load())
	counter(c.deliveries, hs.Deliveries.Load())
	counter(c.whispers, hs.Whispers.Load())
	counter(c.rateLimited, hs.RateLimited.Load())
	counter(c.rateKicks, hs.RateKicks.Load())
	counter(c.tooLong, hs.TooLong.Load())
	if v := c.hub.Verifier(); v != nil {
		as := v.Stats()
		counter(c.authTokens, as.Verified.Load(), "ok")
		for r := range as.Refused {
			counter(c.authTokens, as.Refused[r].Load(), auth.Reason(r).String())
		}
		counter(c.authJWKS, as.JWKSFetches.Load(), "ok")
		counter(c.authJWKS, as.JWKSFailures.Load(), "error")
	}
	if mh, ok := c.hub.History().(*hub.MemoryHistory); ok {
		gauge(c.historyMsgs, float64(mh.Len()))
		gauge(c.historyBytes, float64(mh.Bytes()))
		counter(c.historyResets, hs.HistoryResets.Load())
	}
	if sh, ok := c.hub.Sequencer().(*cluster.History); ok {
		st := sh.Stats()
		counter(c.sharedStored, st.Stored.Load())
		counter(c.sharedConflicts, st.Conflicts.Load())
		counter(c.sharedDropped, st.Dropped.Load())
		counter(c.sharedUnshared, hs.HistoryUnshared.Load())
		consuming := 0.0
		if sh.Consuming() {
			consuming = 1
		}
		gauge(c.sharedConsumer, consuming)
		counter(c.sharedRetries, st.ConsumerRetries.Load())
	}
	gauge(c.held, float64(st.HeldBytes))
	gauge(c.budget, float64(st.MemoryBudget))
	for d, n := range st.Evicted {
		counter(c.evicted, n, engine.DirName(d))
	}
	counter(c.msgTimeouts, st.MessageTimeouts)
	counter(c.releases, st.MemoryReleases, "eviction")
	counter(c.releases, c.release.Releases(), "connection_wave")
	counter(c.deflateConns, st.DeflateConns)
	gauge(c.deflateOpen, float64(st.DeflateOpen))
	counter(c.inflateErrors, st.InflateErrors)
	counter(c.compressed, hs.Compressed.Load())
}

// metricsHandler serves /metrics (the node's collector plus the Go runtime
// and process collectors) and /healthz.
func metricsHandler(srv *engine.Server, h *hub.Hub, release *mempolicy.Releaser, cl *clustered, withPprof bool, extra ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(srv, h, release), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(extra...)
	if cl.node != nil {
		reg.MustRegister(newClusterCollector(cl))
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		r := cl.health(srv) // and the cluster: a balancer may prefer connected nodes
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(r.Status)
		_, _ = w.Write(r.Body)
	})
	return mux
}

// health is 200 while serving and 503 while draining, on both ports.
func health(srv *engine.Server) engine.Response {
	if srv.Draining() {
		return engine.Response{Status: http.StatusServiceUnavailable, Body: []byte("draining\n")}
	}
	return engine.Response{Status: http.StatusOK, Body: []byte("ok\n")}
}
