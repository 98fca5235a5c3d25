// Package webhook posts the chat node's events (hub.EventSink) to the
// application's backend over HTTP, in signed batches:
//
//	POST URL
//	Content-Type: application/json
//	X-Signature: sha256=HEX(HMAC-SHA256(secret, body))
//
//	[{"type":"message","ts":1718000000000,"node":"n1","room":"lobby","from":"bob","text":"hi","offset":42,"epoch":"..."},...]
//
// A batch holds at most Config.Batch events and leaves at most
// Config.Flush after its first one. A receiver answers 2xx to take it;
// anything else (or no answer) is retried, with jittered exponential
// backoff, until it is taken, except a 4xx other than 408 and 429, which
// drops the batch (counted: the receiver refuses it and would refuse it
// again). Batches leave one at a time, in order.
//
// Nothing here ever slows the chat: the hub's loops hand events over
// with a copy into a queue bounded in bytes (Config.Queue, counted with
// Config.Hold in the node's memory budget), and one goroutine posts. While
// the receiver is down or slow the queue fills; past its bound new events
// are dropped, counted and logged (at most every 10 s), never silently.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults used for the zero fields of Config.
const (
	DefaultBatch    = 500
	DefaultFlush    = 100 * time.Millisecond
	DefaultQueue    = 8 << 20
	DefaultRetryMin = 100 * time.Millisecond
	DefaultRetryMax = 2 * time.Second
	DefaultTimeout  = 10 * time.Second
)

// Config configures a Sink.
type Config struct {
	// URL receives the batches. Required.
	URL string
	// Secret signs them (X-Signature). Required.
	Secret []byte
	// Batch is the most events in one POST. If zero, DefaultBatch.
	Batch int
	// Flush is the longest an event waits for its batch to fill. If zero,
	// DefaultFlush.
	Flush time.Duration
	// Queue bounds the bytes of the events waiting (the batch being
	// posted included). If zero, DefaultQueue.
	Queue int64
	// RetryMin and RetryMax bound the pause before a failed batch is
	// posted again: it doubles from RetryMin to RetryMax, each pause
	// jittered to between half of it and all of it. If zero, the defaults.
	RetryMin, RetryMax time.Duration
	// Client posts the batches. If nil, one with a DefaultTimeout timeout.
	Client *http.Client
	// Hold, if not nil, is told of every change of the bytes the queue
	// holds (engine.Server.Hold: the node's memory budget counts them).
	Hold func(delta int64)
	// Logger receives failures and drops, rate-limited; never an event.
	// If nil, logs are discarded.
	Logger *slog.Logger
}

// Stats are the sink's counters.
type Stats struct {
	Sent       atomic.Int64 // events taken by the receiver
	Batches    atomic.Int64 // batches taken
	Dropped    atomic.Int64 // events dropped because the queue was full
	Rejected   atomic.Int64 // events dropped because the receiver refused their batch (4xx)
	Failures   atomic.Int64 // posts that failed (and were retried)
	QueueBytes atomic.Int64 // bytes held by the queue now
}

// Sink queues events and posts them. It implements hub.EventSink.
type Sink struct {
	cfg   Config
	log   *slog.Logger
	stats Stats

	mu      sync.Mutex
	batches []*batch // waiting, oldest first; the last one fills
	free    []*batch // spares, emptied (at most maxSpares): a busy node's batches reuse their buffers
	held    int64    // bytes of the queued batches, the one in flight and the spare (capacity)
	mean    int      // the mean size of an event, moving (1/16 per event)
	lastLog time.Time
	logged  int64 // drops already logged

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

// batch is one POST body being built: "[ev,ev,...]".
type batch struct {
	b     []byte
	n     int       // events
	first time.Time // when its first event came
}

// A batch is given room for Batch events of the mean size seen so far
// (plus a quarter), between minChunk and a quarter of the queue; it is cut
// short when the next event does not fit, so the queue's bytes are its
// batches' capacities, exactly, and mostly used.
const (
	minChunk     = 4 << 10
	initialEvent = 256 // the mean event size assumed before any is seen
)

// New starts a sink; Close stops it.
func New(cfg Config) (*Sink, error) {
	if cfg.URL == "" {
		return nil, errors.New("webhook: no URL")
	}
	if len(cfg.Secret) == 0 {
		return nil, errors.New("webhook: no secret")
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Flush <= 0 {
		cfg.Flush = DefaultFlush
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = DefaultRetryMin
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(DefaultRetryMax, cfg.RetryMin)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: DefaultTimeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sink{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	s.mean = initialEvent
	go s.run()
	return s, nil
}

// Stats returns the sink's live counters.
func (s *Sink) Stats() *Stats { return &s.stats }

// Event implements hub.EventSink: it copies obj into the queue, or drops
// it (counted) if the queue is full. It never waits on the network.
func (s *Sink) Event(_, _ string, obj []byte) {
	need := len(obj) + 2 // '[' or ',' before it, room for the ']' after
	s.mu.Lock()
	s.mean += (len(obj) - s.mean) / 16
	var b *batch
	if k := len(s.batches); k > 0 {
		if last := s.batches[k-1]; last.n < s.cfg.Batch && len(last.b)+need <= cap(last.b) {
			b = last
		}
	}
	if b != nil {
		b.b = append(b.b, ',')
	} else {
		if k := len(s.free); k > 0 && cap(s.free[k-1].b) >= need {
			b = s.free[k-1] // counted already
			s.free[k-1] = nil
			s.free = s.free[:k-1]
		} else {
			size := max(s.chunk(), need)
			if s.held+int64(size) > s.cfg.Queue {
				s.stats.Dropped.Add(1)
				s.mu.Unlock()
				return
			}
			b = &batch{b: make([]byte, 0, size)}
			s.hold(int64(size))
		}
		b.b = append(b.b[:0], '[')
		b.first = time.Now()
		s.batches = append(s.batches, b)
	}
	b.b = append(b.b, obj...)
	b.n++
	kick := b.n == 1 || b.n >= s.cfg.Batch || len(s.batches) > 1
	s.mu.Unlock()
	if kick {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// maxSpares is how many posted batches keep their buffers for the next
// ones (counted in the queue's bytes): a batch fills while another is
// posted, so with one spare most batches would allocate theirs.
const maxSpares = 4

// chunk is the capacity of a new batch. mu held.
func (s *Sink) chunk() int {
	c := int64(s.cfg.Batch) * int64(s.mean+1) * 5 / 4
	return int(min(max(c, minChunk), max(s.cfg.Queue/4, 1)))
}

// hold tells Config.Hold and Stats of a change of the bytes held. mu held.
func (s *Sink) hold(delta int64) {
	s.held += delta
	s.stats.QueueBytes.Add(delta)
	if s.cfg.Hold != nil {
		s.cfg.Hold(delta)
	}
}

// next takes the oldest batch if it is due (full, old enough, or not the
// last), else says how long until it is (0: nothing queued).
func (s *Sink) next(force bool) (*batch, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.batches) == 0 {
		return nil, 0
	}
	b := s.batches[0]
	wait := s.cfg.Flush - time.Since(b.first)
	if !force && b.n < s.cfg.Batch && len(s.batches) == 1 && wait > 0 {
		return nil, wait
	}
	s.batches[0] = nil
	s.batches = s.batches[1:]
	b.b = append(b.b, ']') // room was reserved by Event
	return b, 0
}

// release gives a posted (or dropped) batch's bytes back.
func (s *Sink) release(b *batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.chunk(); len(s.free) < maxSpares && cap(b.b) >= c/2 && cap(b.b) <= 2*c {
		b.b, b.n = b.b[:0], 0
		s.free = append(s.free, b) // kept for a next batch, still counted
		return
	}
	s.hold(-int64(cap(b.b)))
}

// run posts the batches in order until Close.
func (s *Sink) run() {
	defer close(s.done)
	mac := hmac.New(sha256.New, s.cfg.Secret)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		b, wait := s.next(false)
		if b == nil {
			if wait == 0 {
				wait = time.Hour
			}
			timer.Reset(wait)
			select {
			case <-s.kick:
			case <-timer.C:
			case <-s.stop:
				s.drain(mac)
				return
			}
			timer.Stop()
			continue
		}
		s.deliver(mac, b, s.stop)
		s.logDrops()
	}
}

// deliver posts b until the receiver takes or refuses it, or stop closes.
func (s *Sink) deliver(mac hash.Hash, b *batch, stop <-chan struct{}) bool {
	mac.Reset()
	mac.Write(b.b)
	sig := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	pause := s.cfg.RetryMin
	for {
		status, err := s.post(b.b, sig)
		switch {
		case err == nil && status/100 == 2:
			s.stats.Sent.Add(int64(b.n))
			s.stats.Batches.Add(1)
			s.release(b)
			return true
		case err == nil && status/100 == 4 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests:
			s.stats.Rejected.Add(int64(b.n))
			s.log.Warn("webhook: the receiver refused a batch; dropped", "status", status, "events", b.n)
			s.release(b)
			return true
		}
		s.stats.Failures.Add(1)
		if s.stats.Failures.Load()%20 == 1 {
			s.log.Warn("webhook: posting events failed; retrying", "status", status, "err", err, "queued_bytes", s.stats.QueueBytes.Load())
		}
		// Full jitter between half the pause and all of it: the nodes
		// of a cluster do not all come back at the same instant.
		d := pause/2 + rand.N(pause/2+1)
		select {
		case <-time.After(d):
		case <-stop: // closing: what is not taken now is lost, counted
			s.stats.Dropped.Add(int64(b.n))
			s.release(b)
			return false
		}
		pause = min(2*pause, s.cfg.RetryMax)
	}
}

// post sends one batch.
func (s *Sink) post(body []byte, sig string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Signature", sig)
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return 0, err
	}
	// Read what the receiver answered (a little of it) so that the
	// connection is kept for the next batch.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// logDrops logs the drops since the last such line, at most every 10 s.
func (s *Sink) logDrops() {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.stats.Dropped.Load()
	if d == s.logged || time.Since(s.lastLog) < 10*time.Second {
		return
	}
	s.log.Warn("webhook: events queue full; events dropped", "dropped", d-s.logged, "dropped_total", d, "queue_bytes", s.cfg.Queue)
	s.logged, s.lastLog = d, time.Now()
}

// drain posts what is queued, once each, at Close.
func (s *Sink) drain(mac hash.Hash) {
	giveUp := make(chan struct{})
	close(giveUp) // one attempt per batch
	for {
		b, _ := s.next(true)
		if b == nil {
			break
		}
		s.deliver(mac, b, giveUp)
	}
	s.logDrops()
}

// Close posts what is queued (one attempt per batch, within ctx: the
// client's timeout bounds each) and stops the sink.
func (s *Sink) Close(ctx context.Context) error {
	close(s.stop)
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
