package hub_test

import (
	"fmt"
	"runtime"
	"testing"

	"edgews/codec"
	"edgews/engine"
	"edgews/hub"
)

// BenchmarkBroadcastHistory compares one message fanned out to 2,000
// members (half JSON) with history off and on: on adds the room's order
// lock, the store's append (a recycled entry) and the offset in the JSON
// frame, once per message, not per delivery. Compare the ns/delivery of
// the two sub-benchmarks from one run.
func BenchmarkBroadcastHistory(b *testing.B) {
	for _, tt := range []struct {
		name string
		cfg  hub.Config
	}{
		{"off", hub.Config{Shards: 4}},
		{"on", hub.Config{Shards: 4, History: 50}},
	} {
		b.Run(tt.name, func(b *testing.B) { benchmarkBroadcastConfig(b, 2000, true, tt.cfg) })
	}
}

// BenchmarkJoinStorm measures what a join costs when 1,000 JSON users
// join a room holding 50 messages of history, one after another: per join
// the registry, the presence event to the room, and (history on) the
// history event of 50 messages encoded under the room's order lock.
// ns/join is the figure; off is the same storm without history.
func BenchmarkJoinStorm(b *testing.B) {
	for _, tt := range []struct {
		name string
		cfg  hub.Config
	}{
		{"off", hub.Config{Shards: 4}},
		{"on", hub.Config{Shards: 4, History: 50}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			const joiners = 1000
			p, _ := newChatConfig(b, 2, tt.cfg)
			speaker, err := p.Open("/chat?room=storm", 0, false)
			if err != nil {
				b.Fatal(err)
			}
			for i := range 50 {
				p.Message(speaker, codec.OpText, fmt.Appendf(nil, "message %d of the room's history, of a typical length", i))
			}
			conns := make([]*engine.Conn, joiners)
			for i := range conns {
				if conns[i], err = p.Open("/chat", i%2, false, jsonHeader); err != nil {
					b.Fatal(err)
				}
			}
			p.Drain()
			join, leave := []byte(`{"type":"join","room":"storm"}`), []byte(`{"type":"leave"}`)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for _, c := range conns {
					p.Message(c, codec.OpText, join)
				}
				p.Drain()
				b.StopTimer()
				for _, c := range conns {
					p.Message(c, codec.OpText, leave)
				}
				p.Drain()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/joiners, "ns/join")
		})
	}
}

// BenchmarkHistoryAppend measures storing one message in a full store
// (1,000 rooms of 50 messages: each append recycles the room's oldest),
// and reports the heap one stored message takes (heap-B/msg, measured
// after filling the store, beside the bytes it counts against MaxBytes).
func BenchmarkHistoryAppend(b *testing.B) {
	const rooms, perRoom = 1000, 50
	names := make([]string, rooms)
	for i := range names {
		names[i] = fmt.Sprint("room", i)
	}
	text := []byte("a chat line of a typical length, about sixty bytes long....") // 60 bytes
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := hub.NewMemoryHistory(hub.MemoryHistoryConfig{PerRoom: perRoom})
	for i := range rooms * perRoom {
		s.Append(names[i%rooms], false, "alice", text, 1)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	n := float64(s.Len())
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for i := range b.N {
		s.Append(names[i%rooms], false, "alice", text, 1)
	}
	b.StopTimer()
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/msg")
	b.ReportMetric(float64(s.Bytes())/n, "counted-B/msg")
}
