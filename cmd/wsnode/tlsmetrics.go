package main

import (
	"edgews/engine"
	"github.com/prometheus/client_golang/prometheus"
)

// tlsCollector exports the engine's TLS counters (Stats.TLS) and the
// certificate's reloads and expiry. Nothing in it holds key material.
type tlsCollector struct {
	srv *engine.Server
	ts  *tlsSetup

	handshakes, seconds, running, queued *prometheus.Desc
	keyUpdates, alerts                   *prometheus.Desc
	reloads, notAfter                    *prometheus.Desc
}

func newTLSCollector(srv *engine.Server, ts *tlsSetup) *tlsCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("wsnode_tls_"+name, help, labels, nil)
	}
	return &tlsCollector{srv: srv, ts: ts,
		handshakes: d("handshakes_total", "TLS handshakes by outcome (ok, failed, version, timeout, closed, busy, not_tls, http, acme) and, for ok, version (1.2, 1.3).", "outcome", "version"),
		seconds:    d("handshake_seconds", "Completed TLS handshakes by time from the accept to the handshake's end."),
		running:    d("handshakes_running", "TLS handshakes on the --tls-handshake-workers now."),
		queued:     d("handshakes_queued", "TLS handshakes waiting for a worker."),
		keyUpdates: d("key_updates_total", "TLS 1.3 KeyUpdate messages received from clients and sent (answers).", "direction"),
		alerts:     d("alerts_total", "TLS alerts sent and received, by name.", "direction", "alert"),
		reloads:    d("certificate_reloads_total", "Reloads of --tls-cert by result (error: the certificate in use was kept).", "result"),
		notAfter:   d("certificate_not_after_seconds", "Expiry of the --tls-cert certificate in use, as a Unix time."),
	}
}

// collectors is the TLS collector of a node serving TLS, for
// metricsHandler's extra collectors; none without TLS.
func (s *tlsSetup) collectors(srv *engine.Server) []prometheus.Collector {
	if s == nil {
		return nil
	}
	return []prometheus.Collector{newTLSCollector(srv, s)}
}

func (c *tlsCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *tlsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.srv.Stats().TLS
	counter := func(d *prometheus.Desc, v int64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	for o, n := range st.Handshakes {
		if engine.TLSOutcome(o) != engine.TLSOK {
			counter(c.handshakes, n, engine.TLSOutcome(o).String(), "")
		}
	}
	counter(c.handshakes, st.Versions[0], "ok", "1.2")
	counter(c.handshakes, st.Versions[1], "ok", "1.3")
	buckets := map[float64]uint64{}
	var count uint64
	for i, n := range st.HandshakeSeconds {
		count += uint64(n)
		if i < len(engine.TLSHandshakeBuckets) {
			buckets[engine.TLSHandshakeBuckets[i]] = count
		}
	}
	ch <- prometheus.MustNewConstHistogram(c.seconds, count, st.HandshakeSecondsSum, buckets)
	gauge(c.running, float64(st.HandshakesRunning))
	gauge(c.queued, float64(st.HandshakesQueued))
	counter(c.keyUpdates, st.KeyUpdatesReceived, "received")
	counter(c.keyUpdates, st.KeyUpdatesSent, "sent")
	for a, n := range st.AlertsSent {
		counter(c.alerts, n, "sent", a)
	}
	for a, n := range st.AlertsReceived {
		counter(c.alerts, n, "received", a)
	}
	if r := c.ts.certs; r != nil {
		counter(c.reloads, r.reloads.Load(), "ok")
		counter(c.reloads, r.failures.Load(), "error")
		if cert := r.cert.Load(); cert != nil && cert.Leaf != nil {
			gauge(c.notAfter, float64(cert.Leaf.NotAfter.Unix()))
		}
	}
}
