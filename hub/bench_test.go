package hub_test

import (
	"testing"

	"edgews/codec"
	"edgews/engine"
	"edgews/hub"
)

// BenchmarkBroadcast10k measures one chat message fanned out to 10,000
// members spread over 2 loops, in process: encode once, one task per loop,
// one shared buffer written to every member, the loops' flushes. ns/delivery
// is ns/op divided by the recipients. The in-process loops queue tasks in a
// slice; gnet's Execute adds one closure allocation per loop per batch
// (not per delivery), which this benchmark does not include.
func BenchmarkBroadcast10k(b *testing.B) { benchmarkBroadcast(b, false) }

// BenchmarkBroadcast10kMixed is BenchmarkBroadcast10k with half of the
// members on the JSON protocol: the message is encoded twice (once per
// format), then shared as before.
func BenchmarkBroadcast10kMixed(b *testing.B) { benchmarkBroadcast(b, true) }

func benchmarkBroadcast(b *testing.B, mixed bool) {
	benchmarkBroadcastConfig(b, 10000, mixed, hub.Config{Shards: 4})
}

// benchmarkBroadcastConfig is the broadcast benchmark for members members
// of a hub configured with cfg.
func benchmarkBroadcastConfig(b *testing.B, members int, mixed bool, cfg hub.Config) {
	p, _ := newChatConfig(b, 2, cfg)
	conns := make([]*engine.Conn, members)
	for i := range conns {
		var hdr []string
		if mixed && i%2 == 1 {
			hdr = append(hdr, jsonHeader)
		}
		c, err := p.Open("/chat", i%2, false, hdr...)
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = c
	}
	p.Drain() // presence events to the JSON members
	msg := []byte("a chat line of a typical length, about sixty bytes long....")
	sender := conns[0]
	// Warm the pools.
	p.Message(sender, codec.OpText, msg)
	p.Drain()
	before := p.Written(conns[members-1])
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Message(sender, codec.OpText, msg)
		p.Drain()
	}
	b.StopTimer()
	if p.Written(conns[members-1]) == before {
		b.Fatal("nothing delivered")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(members), "ns/delivery")
	b.ReportMetric(float64(members), "deliveries/op")
}
