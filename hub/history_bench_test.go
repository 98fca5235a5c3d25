package hub_test

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

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

// BenchmarkBroadcastHistoryPaired is BenchmarkBroadcastHistory with the
// two nodes (history off and on, 2,000 members each, half JSON) measured
// in alternation, message by message, so that a busy machine's drift
// weighs on both alike. It reports the median cost per delivery of each
// and the median of the per-message ratios (on-vs-off, target at most
// 1.05): medians, because other processes' bursts on a shared machine
// hit single messages.
func BenchmarkBroadcastHistoryPaired(b *testing.B) {
	const members = 2000
	type node struct {
		p      *engine.InProc
		sender *engine.Conn
		last   *engine.Conn
		ns     []float64 // per message
	}
	msg := []byte("a chat line of a typical length, about sixty bytes long....")
	var nodes [2]*node
	for i, cfg := range []hub.Config{{Shards: 4}, {Shards: 4, History: 50}} {
		p, _ := newChatConfig(b, 2, cfg)
		n := &node{p: p}
		for k := range members {
			var hdr []string
			if k%2 == 1 {
				hdr = append(hdr, jsonHeader)
			}
			c, err := p.Open("/chat", k%2, false, hdr...)
			if err != nil {
				b.Fatal(err)
			}
			if k == 0 {
				n.sender = c
			}
			n.last = c
		}
		for range 60 { // warm the pools and fill the history
			p.Message(n.sender, codec.OpText, msg)
		}
		p.Drain()
		nodes[i] = n
	}
	before := [2]int64{nodes[0].p.Written(nodes[0].last), nodes[1].p.Written(nodes[1].last)}
	for _, n := range nodes {
		n.ns = make([]float64, b.N)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for k := range 2 {
			n := nodes[(i+k)%2] // alternate which goes first
			t0 := time.Now()
			n.p.Message(n.sender, codec.OpText, msg)
			n.p.Drain()
			n.ns[i] = float64(time.Since(t0).Nanoseconds())
		}
	}
	b.StopTimer()
	for i, n := range nodes {
		if n.p.Written(n.last) == before[i] {
			b.Fatal("nothing delivered")
		}
	}
	ratios := make([]float64, b.N)
	for i := range ratios {
		ratios[i] = nodes[1].ns[i] / nodes[0].ns[i]
	}
	median := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	b.ReportMetric(median(ratios), "on-vs-off")
	b.ReportMetric(median(nodes[0].ns)/members, "off-ns/delivery")
	b.ReportMetric(median(nodes[1].ns)/members, "on-ns/delivery")
}

// BenchmarkJoinStorm measures what a join costs when 1,000 JSON users
// join a room holding 50 messages of history, one after another: per join
// the registry, the presence event to the room (to up to 1,000 members:
// most of the cost), and, with history on, the history event of 50
// messages encoded under the room's order lock. Two nodes, history off
// and on, take turns storm by storm (a busy machine's drift then weighs
// on both alike); it reports the median cost per join of each and the
// median of their per-storm difference (on-minus-off-ns/join).
func BenchmarkJoinStorm(b *testing.B) {
	const joiners = 1000
	type storm struct {
		p       *engine.InProc
		conns   []*engine.Conn
		perJoin []float64
		last    *engine.Conn
		before  int64
	}
	join, leave := []byte(`{"type":"join","room":"storm"}`), []byte(`{"type":"leave"}`)
	var storms [2]*storm
	for i, cfg := range []hub.Config{{Shards: 4}, {Shards: 4, History: 50}} {
		p, _ := newChatConfig(b, 2, cfg)
		speaker, err := p.Open("/chat?room=storm", 0, false)
		if err != nil {
			b.Fatal(err)
		}
		for k := range 50 {
			p.Message(speaker, codec.OpText, fmt.Appendf(nil, "message %d of the room's history, of a typical length", k))
		}
		st := &storm{p: p, conns: make([]*engine.Conn, joiners)}
		for k := range st.conns {
			if st.conns[k], err = p.Open("/chat", k%2, false, jsonHeader); err != nil {
				b.Fatal(err)
			}
		}
		p.Drain()
		st.last = st.conns[joiners-1]
		st.before = p.Written(st.last)
		storms[i] = st
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for k := range 2 {
			st := storms[(i+k)%2] // alternate which goes first
			t0 := time.Now()
			for _, c := range st.conns {
				st.p.Message(c, codec.OpText, join)
			}
			st.p.Drain()
			st.perJoin = append(st.perJoin, float64(time.Since(t0).Nanoseconds())/joiners)
			b.StopTimer()
			for _, c := range st.conns {
				st.p.Message(c, codec.OpText, leave)
			}
			st.p.Drain()
			b.StartTimer()
		}
	}
	b.StopTimer()
	for _, st := range storms {
		if st.p.Written(st.last) == st.before {
			b.Fatal("nothing delivered")
		}
	}
	diffs := make([]float64, b.N)
	for i := range diffs {
		diffs[i] = storms[1].perJoin[i] - storms[0].perJoin[i]
	}
	median := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	b.ReportMetric(median(diffs), "on-minus-off-ns/join")
	b.ReportMetric(median(storms[0].perJoin), "off-ns/join")
	b.ReportMetric(median(storms[1].perJoin), "on-ns/join")
}

// BenchmarkHistoryEvent measures what history adds to a join: reading a
// room's 50 messages and encoding them into the history event (one frame,
// about 9 KB for 60-byte lines).
func BenchmarkHistoryEvent(b *testing.B) {
	p, h := newChatConfig(b, 1, hub.Config{Shards: 4, History: 50})
	speaker, err := p.Open("/chat?room=storm", 0, false)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 50 {
		p.Message(speaker, codec.OpText, fmt.Appendf(nil, "message %d of the room's history, of a typical length..", i))
	}
	p.Drain()
	n := hub.EncodeHistory(h, "storm")
	b.SetBytes(int64(n))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		hub.EncodeHistory(h, "storm")
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
		s.Append(names[i%rooms], 0, 0, "alice", text, 1)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	n := float64(s.Len())
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for i := range b.N {
		s.Append(names[i%rooms], 0, 0, "alice", text, 1)
	}
	b.StopTimer()
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/msg")
	b.ReportMetric(float64(s.Bytes())/n, "counted-B/msg")
}
