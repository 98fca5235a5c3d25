package bench

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The live view of a run: every worker's progress line carries its
// second's latency and connect-time histograms and its running counts
// (liveDelta); the coordinator merges them as they come (HdrHistograms
// merged exactly) into running totals, serves them to Prometheus
// (Config.MetricsAddr) and appends one snapshot per interval to a JSON
// lines file (Config.Out). Nothing grows with the run's length: a
// snapshot is written and forgotten.

// liveDelta is a worker's second, beside progressMsg's counts.
type liveDelta struct {
	Latency     histDelta      `json:"lat,omitempty"`  // latencies measured in the second
	Connect     histDelta      `json:"conn,omitempty"` // connect times measured in the second
	Failures    map[string]int `json:"failures,omitempty"`
	Disconnects int            `json:"disconnects,omitempty"`
	RSS         int64          `json:"rss,omitempty"` // the worker process's resident memory, bytes
}

// liveDelta takes the second's histograms (the sampler merged the loops'
// into ivlLat and ivlConn) and the running counts. The sampler's only.
func (w *worker) liveDelta() *liveDelta {
	d := &liveDelta{Latency: deltaOf(w.ivlLat), Connect: deltaOf(w.ivlConn), RSS: sampleProc(os.Getpid()).rss}
	w.ivlLat.Reset()
	w.ivlConn.Reset()
	w.failMu.Lock()
	if len(w.fails) > 0 {
		d.Failures = make(map[string]int, len(w.fails))
		for k, v := range w.fails {
			d.Failures[k] = v
		}
	}
	w.failMu.Unlock()
	for _, l := range w.loopList() {
		l.mu.Lock()
		d.Disconnects += l.st.disconnects
		l.mu.Unlock()
	}
	return d
}

// liveView is the coordinator's running totals.
type liveView struct {
	mu    sync.Mutex
	cfg   *Config
	t0    time.Time
	sched *schedule // staged runs: the target; set at the start
	mix   *mixAgg   // staged runs: the loss so far
	lat   *hdr.Histogram
	conn  *hdr.Histogram
	ivl   *hdr.Histogram // latencies since the last snapshot
	// The same in Prometheus's buckets, kept as the deltas come: a scrape
	// reads them without walking a histogram.
	promLat, promConn promHist
	workers           []liveWorker
	inproc            bool // the worker runs in this process: its RSS is ours

	sent, recv, bytes  int64
	lastSent, lastRecv int64 // at the last snapshot

	out    *os.File
	srv    *http.Server
	stop   chan struct{}
	done   sync.WaitGroup
	outErr error
}

// liveWorker is a worker's latest running counts.
type liveWorker struct {
	open, connected, failed, disconnects int
	failures                             map[string]int
	rss                                  int64
}

// startLive opens the live view's outputs: the metrics listener and the
// snapshot file, both before any connection, so that a bad address or
// path is an error at the start.
func startLive(cfg *Config, mix *mixAgg, t0 time.Time) (*liveView, error) {
	v := &liveView{cfg: cfg, t0: t0, mix: mix, lat: newHist(), conn: newHist(), ivl: newHist(),
		workers: make([]liveWorker, cfg.Procs), inproc: cfg.Procs == 1 && len(cfg.Agents) == 0, stop: make(chan struct{})}
	if cfg.Out != "" {
		f, err := os.OpenFile(cfg.Out, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("bench: --out: %w", err)
		}
		v.out = f
		iv := cfg.OutInterval
		if iv <= 0 {
			iv = time.Second
		}
		v.done.Go(func() { v.snapshots(iv) })
	}
	if cfg.MetricsAddr != "" {
		ln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			v.close()
			return nil, fmt.Errorf("bench: --metrics-addr: %w", err)
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(v)
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		v.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		v.done.Go(func() {
			if err := v.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				cfg.logf("bench: metrics: %v", err)
			}
		})
	}
	return v, nil
}

// logf logs through Config.Logf, if set.
func (c *Config) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// add takes worker w's progress line.
func (v *liveView) add(w int, p *progressMsg) {
	if v == nil || w < 0 || w >= len(v.workers) {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	lw := &v.workers[w]
	lw.open, lw.connected, lw.failed = p.Conns, p.Connected, p.Failed
	v.sent += p.Sent
	v.recv += p.Received
	v.bytes += p.Bytes
	if d := p.Live; d != nil {
		lw.failures, lw.disconnects, lw.rss = d.Failures, d.Disconnects, d.RSS
		d.Latency.addTo(v.lat)
		d.Latency.addTo(v.ivl)
		d.Connect.addTo(v.conn)
		v.promLat.add(d.Latency)
		v.promConn.add(d.Connect)
	}
}

// histDelta is a histogram's non-zero buckets, flattened as (value,
// count) pairs: what a progress line carries of its second. Adding it to
// a running histogram of the same range is exact and allocates nothing,
// where decoding an encoded one builds a whole HdrHistogram (150 KB) per
// line.
type histDelta []int64

// deltaOf is h's non-zero buckets, each by its lowest value.
func deltaOf(h *hdr.Histogram) histDelta {
	if h.TotalCount() == 0 {
		return nil
	}
	var d histDelta
	for _, b := range h.Distribution() {
		if b.Count > 0 {
			d = append(d, b.From, b.Count)
		}
	}
	return d
}

// MarshalJSON writes d as base64 of varints (value steps and counts):
// a few bytes a bucket, and one JSON string to parse rather than hundreds
// of numbers (the coordinator reads a line per worker per second).
func (d histDelta) MarshalJSON() ([]byte, error) {
	buf := make([]byte, 0, 3*len(d))
	var prev int64
	for i := 0; i+1 < len(d); i += 2 {
		buf = binary.AppendUvarint(buf, uint64(d[i]-prev))
		buf = binary.AppendUvarint(buf, uint64(d[i+1]))
		prev = d[i]
	}
	return json.Marshal(base64.StdEncoding.EncodeToString(buf))
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (d *histDelta) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return fmt.Errorf("bench: histogram delta: %w", err)
	}
	*d = (*d)[:0]
	var v int64
	for len(raw) > 0 {
		step, n := binary.Uvarint(raw)
		cnt, m := binary.Uvarint(raw[max(n, 0):])
		if n <= 0 || m <= 0 {
			return fmt.Errorf("bench: histogram delta: bad varint")
		}
		raw = raw[n+m:]
		v += int64(step)
		*d = append(*d, v, int64(cnt))
	}
	return nil
}

// addTo records d into h.
func (d histDelta) addTo(h *hdr.Histogram) {
	for i := 0; i+1 < len(d); i += 2 {
		_ = h.RecordValues(d[i], d[i+1])
	}
}

// liveTotals is the live view summed over the workers.
type liveTotals struct {
	open, connected, failed, disconnects int
	failures                             map[string]int
	rss                                  int64
}

func (v *liveView) totals() liveTotals {
	t := liveTotals{failures: map[string]int{}}
	for _, w := range v.workers {
		t.open += w.open
		t.connected += w.connected
		t.failed += w.failed
		t.disconnects += w.disconnects
		for k, n := range w.failures {
			t.failures[k] += n
		}
		if !v.inproc {
			t.rss += w.rss
		}
	}
	return t
}

// Snapshot is one line of Config.Out.
type Snapshot struct {
	T           float64        `json:"t"` // seconds since the run began
	Time        time.Time      `json:"time"`
	Stage       int            `json:"stage,omitempty"` // staged runs: from 1
	Target      int            `json:"target,omitempty"`
	Open        int            `json:"open"`
	Connected   int            `json:"connected"` // opened so far
	Failed      int            `json:"failed"`
	Failures    map[string]int `json:"failures,omitempty"`
	Disconnects int            `json:"disconnects"`
	// Sent and Received since the last snapshot, and in all.
	Sent          int64 `json:"sent"`
	Received      int64 `json:"received"`
	SentTotal     int64 `json:"sent_total"`
	ReceivedTotal int64 `json:"received_total"`
	BytesTotal    int64 `json:"bytes_total"`
	// Latency since the last snapshot (µs), and the run's p99 so far.
	LatN      int64   `json:"lat_n"`
	LatP50Us  float64 `json:"lat_p50_us"`
	LatP99Us  float64 `json:"lat_p99_us"`
	LatMaxUs  float64 `json:"lat_max_us"`
	RunP99Us  float64 `json:"run_p99_us"`
	ConnP99Us float64 `json:"connect_p99_us"`
	// Expected and Lost: staged runs' chat accounting, seconds counted so far.
	Expected int64 `json:"expected,omitempty"`
	Lost     int64 `json:"lost,omitempty"`
	// RSS of this process and of the worker processes (theirs as of
	// their last line), bytes.
	RSSController int64 `json:"rss_controller"`
	RSSWorkers    int64 `json:"rss_workers"`
}

// snapshot takes the current snapshot, and starts the next interval.
func (v *liveView) snapshot(now time.Time) Snapshot {
	v.mu.Lock()
	t := v.totals()
	s := Snapshot{T: now.Sub(v.t0).Seconds(), Time: now, Open: t.open, Connected: t.connected, Failed: t.failed,
		Failures: t.failures, Disconnects: t.disconnects, Sent: v.sent - v.lastSent, Received: v.recv - v.lastRecv,
		SentTotal: v.sent, ReceivedTotal: v.recv, BytesTotal: v.bytes, LatN: v.ivl.TotalCount(),
		RunP99Us: float64(v.lat.ValueAtQuantile(99)), ConnP99Us: float64(v.conn.ValueAtQuantile(99)), RSSWorkers: t.rss}
	if s.LatN > 0 {
		s.LatP50Us, s.LatP99Us, s.LatMaxUs = float64(v.ivl.ValueAtQuantile(50)), float64(v.ivl.ValueAtQuantile(99)), float64(v.ivl.Max())
	}
	if len(s.Failures) == 0 {
		s.Failures = nil
	}
	v.ivl.Reset()
	v.lastSent, v.lastRecv = v.sent, v.recv
	sched := v.sched
	v.mu.Unlock()
	if sched != nil {
		ns := nowNanos()
		s.Stage, s.Target = min(sched.stageAt(ns), len(sched.stages)-1)+1, sched.count(ns)
	}
	if v.mix != nil {
		s.Expected, s.Lost = v.mix.liveLoss()
	}
	s.RSSController = sampleProc(os.Getpid()).rss
	return s
}

// snapshots appends a snapshot to the file every interval until close.
func (v *liveView) snapshots(iv time.Duration) {
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-v.stop:
			v.writeSnapshot(time.Now())
			return
		case now := <-t.C:
			v.writeSnapshot(now)
		}
	}
}

func (v *liveView) writeSnapshot(now time.Time) {
	b, err := json.Marshal(v.snapshot(now))
	if err == nil {
		_, err = v.out.Write(append(b, '\n'))
	}
	if err != nil && v.outErr == nil {
		v.outErr = err
		v.cfg.logf("bench: --out: %v", err)
	}
}

// setSchedule starts the target's clock (staged runs).
func (v *liveView) setSchedule(s *schedule) {
	if v == nil {
		return
	}
	v.mu.Lock()
	v.sched = s
	v.mu.Unlock()
}

// close stops the outputs (after a last snapshot).
func (v *liveView) close() {
	if v == nil {
		return
	}
	select {
	case <-v.stop:
		return
	default:
	}
	close(v.stop)
	if v.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = v.srv.Shutdown(ctx)
		cancel()
	}
	v.done.Wait()
	if v.out != nil {
		_ = v.out.Close()
	}
}

// The metrics, all prefixed wsbench_.
var (
	descOpen        = prometheus.NewDesc("wsbench_connections_open", "Connections open now.", nil, nil)
	descTarget      = prometheus.NewDesc("wsbench_connections_target", "Connections the stages want open now (staged runs).", nil, nil)
	descStage       = prometheus.NewDesc("wsbench_stage", "The stage running, from 1 (staged runs).", nil, nil)
	descOpened      = prometheus.NewDesc("wsbench_connections_opened_total", "Connections opened (upgraded).", nil, nil)
	descFailed      = prometheus.NewDesc("wsbench_connections_failed_total", "Connections that failed to open, by reason.", []string{"reason"}, nil)
	descDisconnects = prometheus.NewDesc("wsbench_disconnects_total", "Open connections the server closed.", nil, nil)
	descSent        = prometheus.NewDesc("wsbench_messages_sent_total", "Messages sent (echo requests, chat lines).", nil, nil)
	descRecv        = prometheus.NewDesc("wsbench_messages_received_total", "Messages received (echo replies, deliveries).", nil, nil)
	descBytes       = prometheus.NewDesc("wsbench_received_bytes_total", "Payload bytes received.", nil, nil)
	descExpected    = prometheus.NewDesc("wsbench_messages_expected_total", "Deliveries a lossless server makes, of the seconds counted so far (staged runs).", nil, nil)
	descLost        = prometheus.NewDesc("wsbench_messages_lost_total", "Expected deliveries missing, of the seconds counted so far (staged runs).", nil, nil)
	descLatency     = prometheus.NewDesc("wsbench_latency_seconds", "Echo round trips and chat delivery latencies.", nil, nil)
	descConnect     = prometheus.NewDesc("wsbench_connect_seconds", "Connect time: TCP connect and upgrade (a /chat user: to its greeting).", nil, nil)
	descRSS         = prometheus.NewDesc("wsbench_worker_rss_bytes", "Resident memory of the worker processes.", nil, nil)
)

// latencyBuckets are the histograms' upper bounds, seconds.
var latencyBuckets = latencyBucketsArr[:]

// Describe implements prometheus.Collector.
func (v *liveView) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(v, ch) }

// Collect implements prometheus.Collector: the running totals, read at
// the scrape.
func (v *liveView) Collect(ch chan<- prometheus.Metric) {
	v.mu.Lock()
	t := v.totals()
	sent, recv, bytes := v.sent, v.recv, v.bytes
	lat, conn := v.promLat.metric(descLatency), v.promConn.metric(descConnect)
	sched := v.sched
	v.mu.Unlock()
	gauge := func(d *prometheus.Desc, x float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, x, labels...)
	}
	counter := func(d *prometheus.Desc, x float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, x, labels...)
	}
	gauge(descOpen, float64(t.open))
	counter(descOpened, float64(t.connected))
	keys := make([]string, 0, len(t.failures))
	for k := range t.failures {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		counter(descFailed, float64(t.failures[k]), k)
	}
	counter(descDisconnects, float64(t.disconnects))
	counter(descSent, float64(sent))
	counter(descRecv, float64(recv))
	counter(descBytes, float64(bytes))
	ch <- lat
	ch <- conn
	if !v.inproc {
		gauge(descRSS, float64(t.rss))
	}
	if sched != nil {
		ns := nowNanos()
		gauge(descTarget, float64(sched.count(ns)))
		gauge(descStage, float64(min(sched.stageAt(ns), len(sched.stages)-1)+1))
	}
	if v.mix != nil {
		exp, lost := v.mix.liveLoss()
		counter(descExpected, float64(exp))
		counter(descLost, float64(lost))
	}
}

// promHist is a Prometheus histogram of seconds fed with deltas of µs:
// each value counted in the first bucket at or above it (to the
// HdrHistogram's 0.1%).
type promHist struct {
	counts [len(latencyBucketsArr)]uint64 // per bucket, not cumulative
	n      uint64
	sum    float64
}

// latencyBucketsArr is latencyBuckets with a length known at compile time.
var latencyBucketsArr = [...]float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

func (p *promHist) add(d histDelta) {
	for i := 0; i+1 < len(d); i += 2 {
		sec, c := float64(d[i])/1e6, uint64(d[i+1])
		if k := sort.SearchFloat64s(latencyBuckets, sec); k < len(p.counts) {
			p.counts[k] += c
		}
		p.n += c
		p.sum += sec * float64(c)
	}
}

func (p *promHist) metric(d *prometheus.Desc) prometheus.Metric {
	buckets := make(map[float64]uint64, len(latencyBuckets))
	var cum uint64
	for i, ub := range latencyBuckets {
		cum += p.counts[i]
		buckets[ub] = cum
	}
	return prometheus.MustNewConstHistogram(d, p.n, p.sum, buckets)
}
