package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edgews/hub/webhook"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var secret = []byte("0123456789abcdef0123456789abcdef")

// recorder is a receiver: it checks signatures, keeps the batches, and
// answers with status (200 if zero) after gate, if set, lets it.
type recorder struct {
	mu      sync.Mutex
	batches [][]map[string]any
	badSig  int
	status  atomic.Int32
	gate    chan struct{}
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if r.gate != nil {
		<-r.gate
	}
	body, _ := io.ReadAll(req.Body)
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	ok := req.Header.Get("X-Signature") == "sha256="+hex.EncodeToString(mac.Sum(nil))
	var evs []map[string]any
	err := json.Unmarshal(body, &evs)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !ok || err != nil || req.Header.Get("Content-Type") != "application/json" {
		r.badSig++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if s := r.status.Load(); s != 0 {
		w.WriteHeader(int(s))
		return
	}
	r.batches = append(r.batches, evs)
}

func (r *recorder) events() (n int, batches int, badSig int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.batches {
		n += len(b)
	}
	return n, len(r.batches), r.badSig
}

func event(i int) []byte { return []byte(fmt.Sprintf(`{"type":"message","ts":1,"text":"m%04d"}`, i)) }

func newSink(t *testing.T, url string, cfg webhook.Config) *webhook.Sink {
	t.Helper()
	cfg.URL, cfg.Secret = url, secret
	s, err := webhook.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func waitFor(t *testing.T, d time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Batches hold at most Batch events, are signed, keep the events' order,
// and a lone event leaves after Flush.
func TestSinkBatches(t *testing.T) {
	r := &recorder{}
	srv := httptest.NewServer(r)
	defer srv.Close()
	s := newSink(t, srv.URL, webhook.Config{Batch: 7, Flush: 50 * time.Millisecond})
	for i := range 50 {
		s.Event("message", "lobby", event(i))
	}
	waitFor(t, 5*time.Second, func() bool { n, _, _ := r.events(); return n == 50 }, "50 events")
	r.mu.Lock()
	i := 0
	for _, b := range r.batches {
		if len(b) > 7 {
			t.Fatalf("a batch of %d events", len(b))
		}
		for _, ev := range b {
			if ev["text"] != fmt.Sprintf("m%04d", i) {
				t.Fatalf("event %d: %v", i, ev)
			}
			i++
		}
	}
	r.mu.Unlock()
	start := time.Now()
	s.Event("message", "lobby", event(50))
	waitFor(t, 5*time.Second, func() bool { n, _, _ := r.events(); return n == 51 }, "a lone event")
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Fatalf("a lone event left after %v, before Flush", d)
	}
	// Sent counts once the sink has read the answer, after the receiver.
	waitFor(t, 5*time.Second, func() bool { return s.Stats().Sent.Load() == 51 }, "51 events counted sent")
	if _, _, bad := r.events(); bad != 0 {
		t.Fatalf("bad signatures %d", bad)
	}
}

// While the receiver does not answer, the queue holds at most Queue bytes
// (told to Hold, and in Stats), the events past it are dropped and
// counted; once it answers, everything queued arrives, in order.
func TestSinkQueueBound(t *testing.T) {
	r := &recorder{gate: make(chan struct{})}
	srv := httptest.NewServer(r)
	defer srv.Close()
	var held atomic.Int64
	const queue = 32 << 10
	s := newSink(t, srv.URL, webhook.Config{Batch: 10, Queue: queue, Hold: func(d int64) { held.Add(d) }})
	for i := range 2000 {
		s.Event("message", "lobby", event(i))
		if q := s.Stats().QueueBytes.Load(); q > queue {
			t.Fatalf("queue holds %d bytes, bound %d", q, queue)
		}
	}
	dropped := s.Stats().Dropped.Load()
	if dropped == 0 || dropped > 1990 {
		t.Fatalf("dropped %d of 2000", dropped)
	}
	if held.Load() != s.Stats().QueueBytes.Load() || held.Load() == 0 {
		t.Fatalf("Hold told %d, the queue holds %d", held.Load(), s.Stats().QueueBytes.Load())
	}
	close(r.gate)
	kept := 2000 - int(dropped)
	waitFor(t, 5*time.Second, func() bool { n, _, _ := r.events(); return n == kept }, "the queued events")
	r.mu.Lock()
	i := 0
	for _, b := range r.batches {
		for _, ev := range b {
			if ev["text"] != fmt.Sprintf("m%04d", i) {
				t.Fatalf("event %d: %v", i, ev)
			}
			i++
		}
	}
	r.mu.Unlock()
	// The spare batches (4 of 4 KiB at most) stay counted; the rest went back.
	waitFor(t, time.Second, func() bool { return held.Load() <= 16<<10 && held.Load() == s.Stats().QueueBytes.Load() }, "the queue's bytes given back")
}

// A failing receiver (5xx, or nothing listening) is retried until it
// takes the batch; a 4xx refuses it: dropped, counted, not retried.
func TestSinkRetriesAndRejects(t *testing.T) {
	r := &recorder{}
	r.status.Store(http.StatusServiceUnavailable)
	srv := httptest.NewServer(r)
	defer srv.Close()
	s := newSink(t, srv.URL, webhook.Config{Batch: 5, Flush: 10 * time.Millisecond, RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	for i := range 5 {
		s.Event("message", "lobby", event(i))
	}
	waitFor(t, 5*time.Second, func() bool { return s.Stats().Failures.Load() >= 3 }, "retries")
	r.status.Store(0)
	waitFor(t, 5*time.Second, func() bool { n, _, _ := r.events(); return n == 5 }, "the batch, once the receiver takes it")
	r.status.Store(http.StatusBadRequest)
	for i := range 5 {
		s.Event("message", "lobby", event(i))
	}
	waitFor(t, 5*time.Second, func() bool { return s.Stats().Rejected.Load() == 5 }, "the refused batch")
	failures := s.Stats().Failures.Load()
	time.Sleep(50 * time.Millisecond)
	if s.Stats().Failures.Load() != failures {
		t.Fatal("a refused batch is retried")
	}
}

// Close posts what is queued.
func TestSinkCloseFlushes(t *testing.T) {
	r := &recorder{}
	srv := httptest.NewServer(r)
	defer srv.Close()
	s, err := webhook.New(webhook.Config{URL: srv.URL, Secret: secret, Flush: time.Hour, Batch: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		s.Event("message", "lobby", event(i))
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := r.events(); n != 10 {
		t.Fatalf("%d of 10 events posted at Close", n)
	}
}
