package hub_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"edgews/codec"
	"edgews/hub"
	"edgews/hub/webhook"
)

// BenchmarkNoticeVsMessage10k: a notice of the server API (Control.Publish)
// into a room of 10,000 members (half text, half JSON) against a member's
// message of the same length into the same room, alternated in one run:
// both are one broadcast, encoded once per format and shared. Reports the
// median per-pair ratio (notice over message) and each one's ns/delivery.
func BenchmarkNoticeVsMessage10k(b *testing.B) {
	const members = 10000
	p, h := newChatConfig(b, 2, hub.Config{Shards: 4})
	conns := openMembers(b, p, members, func(i int) []string {
		if i%2 == 1 {
			return []string{jsonHeader}
		}
		return nil
	})
	sender, last := conns[0], conns[members-1]
	text := "a chat line of a typical length, about sixty bytes long...."
	msg, rooms := []byte(text), []string{hub.Lobby}
	ops := [2]func(){
		func() { p.Message(sender, codec.OpText, msg); p.Drain() },
		func() { h.Notice(rooms, text); p.Drain() },
	}
	for _, op := range ops {
		op() // warm the pools
	}
	before := p.Written(last)
	ns := [2][]float64{make([]float64, b.N), make([]float64, b.N)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for k := range 2 {
			j := (i + k) % 2 // alternate which goes first
			t0 := time.Now()
			ops[j]()
			ns[j][i] = float64(time.Since(t0).Nanoseconds())
		}
	}
	b.StopTimer()
	if p.Written(last) == before {
		b.Fatal("nothing delivered")
	}
	ratios := make([]float64, b.N)
	for i := range ratios {
		ratios[i] = ns[1][i] / ns[0][i]
	}
	median := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	b.ReportMetric(median(ratios), "notice-vs-message")
	b.ReportMetric(median(ns[0])/members, "message-ns/delivery")
	b.ReportMetric(median(ns[1])/members, "notice-ns/delivery")
}

// BenchmarkEvents: process CPU per chat message to a room of 100 members
// (half text, half JSON, history on) with events off, and on: hub/webhook
// posting them, 500 a batch, to a receiver in this process that reads and
// drops them (its CPU is counted too), or with BENCH_EVENTS_URL set to a
// receiver in another process (bin/backendload receive --secret-file F,
// F holding benchSecret). Process CPU (rusage), not wall
// time: the posting runs on the sink's goroutine; the run ends once the
// receiver has every event. Compare the two cpu-ns/msg of one run.
func BenchmarkEvents(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) { benchmarkEvents(b, on) })
	}
}

func benchmarkEvents(b *testing.B, on bool) {
	const members = 100
	url := os.Getenv("BENCH_EVENTS_URL") // a receiver in another process (bin/backendload receive), whose CPU is not counted
	if url == "" {
		rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }))
		defer rcv.Close()
		url = rcv.URL
	}
	sink, err := webhook.New(webhook.Config{URL: url, Secret: []byte(benchSecret), Queue: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close(context.Background())
	made := &countingSink{inner: sink}
	cfg := hub.Config{Shards: 4, History: 50}
	if on {
		cfg.Backend = hub.BackendConfig{NodeID: "n1", Events: made}
	}
	p, _ := newChatConfig(b, 2, cfg)
	conns := openMembers(b, p, members, func(i int) []string {
		if i%2 == 1 {
			return []string{jsonHeader}
		}
		return nil
	})
	msg := []byte("a chat line of a typical length, about sixty bytes long....")
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	for range b.N {
		p.Message(conns[0], codec.OpText, msg)
		p.Drain()
	}
	for st := sink.Stats(); st.Sent.Load()+st.Dropped.Load()+st.Rejected.Load() < made.n.Load(); {
		time.Sleep(time.Millisecond) // the last batches
	}
	cpu := cpuTime() - c0
	b.StopTimer()
	if d := sink.Stats().Dropped.Load(); d != 0 {
		b.Fatalf("%d events dropped", d)
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/msg")
}

// benchSecret signs the events of BenchmarkEvents.
const benchSecret = "0123456789abcdef0123456789abcdef"

// countingSink counts the events it passes on.
type countingSink struct {
	inner hub.EventSink
	n     atomic.Int64
}

func (s *countingSink) Event(kind, room string, obj []byte) {
	s.n.Add(1)
	s.inner.Event(kind, room, obj)
}
