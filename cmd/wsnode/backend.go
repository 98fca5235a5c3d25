package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"edgews/engine"
	"edgews/hub"
	"edgews/hub/api"
	"edgews/hub/webhook"
	"github.com/prometheus/client_golang/prometheus"
)

// backendFlags are the --api-* and --events-* flags: the application's
// backend in the loop.
type backendFlags struct {
	apiAddr, apiKeyFile        string
	eventsURL, eventsSecret    string
	eventsBatch                int
	eventsQueue                int64
	eventsWhispers, eventsNATS bool
}

func addBackendFlags(fs *flag.FlagSet, b *backendFlags) []string {
	fs.StringVar(&b.apiAddr, "api-addr", "", "serve the server API (POST /api/METHOD) on this address (empty = off); needs --api-key-file")
	fs.StringVar(&b.apiKeyFile, "api-key-file", "", "file holding the server API's key (at least 16 bytes; surrounding whitespace is trimmed); requests carry it in X-API-Key or Authorization: apikey")
	fs.StringVar(&b.eventsURL, "events-url", "", "POST the node's events (messages, joins, connects, ...) to this URL in signed JSON batches (empty = off); needs --events-secret-file")
	fs.StringVar(&b.eventsSecret, "events-secret-file", "", "file holding the secret of the events' X-Signature (HMAC-SHA256; at least 32 bytes)")
	fs.IntVar(&b.eventsBatch, "events-batch", webhook.DefaultBatch, "most events in one POST (a batch also leaves 100 ms after its first event)")
	fs.Int64Var(&b.eventsQueue, "events-queue", webhook.DefaultQueue, "bytes of events queued while the receiver is slow or down, counted in --memory-budget; past it events are dropped (counted and logged)")
	fs.BoolVar(&b.eventsWhispers, "events-whispers", false, "include whispers in the events (private: off by default)")
	fs.BoolVar(&b.eventsNATS, "events-nats", false, "with --nats: publish the events on CLUSTER.events.KIND.ROOM even without --events-url (with it, they are published there too)")
	return []string{"api-addr", "api-key-file", "events-url", "events-secret-file", "events-batch", "events-queue", "events-whispers", "events-nats"}
}

// check validates the flags against each other.
func (b *backendFlags) check(memoryBudget int64, clustered bool) error {
	switch {
	case b.apiAddr != "" && b.apiKeyFile == "":
		return errors.New("--api-addr needs --api-key-file")
	case b.eventsURL != "" && b.eventsSecret == "":
		return errors.New("--events-url needs --events-secret-file")
	case b.eventsNATS && !clustered:
		return errors.New("--events-nats needs --nats or --nats-embed")
	case b.eventsURL != "" && b.eventsQueue <= 0:
		return errors.New("--events-queue must be positive")
	case b.eventsURL != "" && memoryBudget > 0 && b.eventsQueue > memoryBudget/2:
		return fmt.Errorf("--events-queue %d is over half of --memory-budget %d, which counts it", b.eventsQueue, memoryBudget)
	}
	return nil
}

// backend is what the flags started: the events' sinks, the API server.
type backend struct {
	hub     *hub.Hub      // set once made
	hook    *webhook.Sink // nil: no --events-url
	api     *http.Server  // nil: no --api-addr
	apiLn   net.Listener
	apiKey  []byte
	metrics *apiMetrics
}

// events builds the events' sinks (nil: none) and the webhook's queue,
// counted in srv's memory budget. node is the cluster's sink, or nil.
func (b *backendFlags) events(srv *engine.Server, node hub.EventSink, logger *slog.Logger) (hub.EventSink, *webhook.Sink, error) {
	var sinks hub.EventSinks
	var hook *webhook.Sink
	if b.eventsURL != "" {
		secret, err := readSecret(b.eventsSecret)
		if err != nil {
			return nil, nil, fmt.Errorf("--events-secret-file: %w", err)
		}
		if len(secret) < 32 {
			return nil, nil, errors.New("--events-secret-file: the secret must be at least 32 bytes")
		}
		hook, err = webhook.New(webhook.Config{URL: b.eventsURL, Secret: secret, Batch: b.eventsBatch, Queue: b.eventsQueue, Hold: srv.Hold, Logger: logger})
		if err != nil {
			return nil, nil, err
		}
		sinks = append(sinks, hook)
		logger.Info("events", "url", redactURL(b.eventsURL), "batch", b.eventsBatch, "queue", b.eventsQueue, "whispers", b.eventsWhispers)
	}
	if node != nil && (b.eventsNATS || b.eventsURL != "") {
		sinks = append(sinks, node)
		logger.Info("events on NATS", "subjects", "CLUSTER.events.KIND.ROOM")
	}
	switch len(sinks) {
	case 0:
		return nil, hook, nil
	case 1:
		return sinks[0], hook, nil
	}
	return sinks, hook, nil
}

// listenAPI opens the API's listener (before the node serves, so that a
// bad address stops the start).
func (b *backendFlags) listenAPI(be *backend) error {
	if b.apiAddr == "" {
		return nil
	}
	key, err := readSecret(b.apiKeyFile)
	if err != nil {
		return fmt.Errorf("--api-key-file: %w", err)
	}
	if len(key) < 16 {
		return errors.New("--api-key-file: the key must be at least 16 bytes")
	}
	ln, err := net.Listen("tcp", b.apiAddr)
	if err != nil {
		return fmt.Errorf("--api-addr: %w", err)
	}
	be.apiLn, be.apiKey, be.metrics = ln, key, newAPIMetrics()
	return nil
}

// serveAPI serves the API on its listener with ctl.
func (be *backend) serveAPI(ctl hub.Control, logger *slog.Logger) error {
	if be.apiLn == nil {
		return nil
	}
	h, err := api.New(api.Config{Control: ctl, Key: be.apiKey, Logger: logger, Observe: be.metrics.observe})
	if err != nil {
		return err
	}
	be.api = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	go func() { _ = be.api.Serve(be.apiLn) }()
	logger.Info("api listening", "addr", be.apiLn.Addr().String())
	return nil
}

// stop stops the API and posts the events still queued (after the drain,
// so that the drained users' disconnects are in).
func (be *backend) stop(ctx context.Context) {
	if be.api != nil {
		_ = be.api.Shutdown(ctx)
	} else if be.apiLn != nil {
		_ = be.apiLn.Close()
	}
	if be.hook != nil {
		_ = be.hook.Close(ctx)
	}
}

// redactURL drops a URL's user information (a password) for the log.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "(unparsable)"
}

// apiMetrics counts the API's calls by method and status, and times them.
type apiMetrics struct {
	mu    sync.Mutex
	calls map[[2]string]int64
	dur   prometheus.Histogram
}

func newAPIMetrics() *apiMetrics {
	return &apiMetrics{calls: make(map[[2]string]int64), dur: prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "wsnode_api_call_seconds", Help: "Duration of server API calls.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	})}
}

func (m *apiMetrics) observe(method string, status int, d time.Duration) {
	if method == "" {
		method = "unknown"
	}
	m.mu.Lock()
	m.calls[[2]string{method, strconv.Itoa(status)}]++
	m.mu.Unlock()
	m.dur.Observe(d.Seconds())
}

// backendCollector exports the API's and the events' counters.
type backendCollector struct {
	be                                  *backend
	calls, sent, dropped, fails, queued *prometheus.Desc
	muted, banned, notices              *prometheus.Desc
}

func newBackendCollector(be *backend) *backendCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("wsnode_"+name, help, labels, nil)
	}
	return &backendCollector{
		be:      be,
		calls:   d("api_calls_total", "Server API calls by method and HTTP status.", "method", "status"),
		sent:    d("events_sent_total", "Events taken by the --events-url receiver."),
		dropped: d("events_dropped_total", "Events not delivered: the queue was full (queue_full), the receiver refused their batch (rejected).", "reason"),
		fails:   d("events_post_failures_total", "Posts of an events batch that failed and were retried."),
		queued:  d("events_queue_bytes", "Bytes held by the events queue (counted in --memory-budget)."),
		muted:   d("chat_muted_total", "Chat messages refused because their sender is muted (server API)."),
		banned:  d("banned_refused_total", "Upgrades refused (403) because the client's name, user or address is banned (server API)."),
		notices: d("notices_total", "Notices published into rooms (server API), one per room."),
	}
}

// Describe describes nothing: the collector is unchecked, since what it
// collects depends on the flags (and the API's histogram).
func (c *backendCollector) Describe(chan<- *prometheus.Desc) {}

func (c *backendCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v int64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	if h := c.be.hub; h != nil {
		st := h.Stats()
		counter(c.muted, st.Muted.Load())
		counter(c.banned, st.BannedRefused.Load())
		counter(c.notices, st.Notices.Load())
	}
	if m := c.be.metrics; m != nil {
		m.mu.Lock()
		for k, v := range m.calls {
			counter(c.calls, v, k[0], k[1])
		}
		m.mu.Unlock()
		m.dur.Collect(ch)
	}
	if s := c.be.hook; s != nil {
		st := s.Stats()
		counter(c.sent, st.Sent.Load())
		counter(c.dropped, st.Dropped.Load(), "queue_full")
		counter(c.dropped, st.Rejected.Load(), "rejected")
		counter(c.fails, st.Failures.Load())
		ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(st.QueueBytes.Load()))
	}
}
