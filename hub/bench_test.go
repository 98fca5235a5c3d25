package hub_test

import (
	"syscall"
	"testing"
	"time"

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
	conns := openMembers(b, p, members, func(i int) []string {
		if mixed && i%2 == 1 {
			return []string{jsonHeader}
		}
		return nil
	})
	runBroadcast(b, p, conns, []byte("a chat line of a typical length, about sixty bytes long...."))
}

// openMembers opens n /chat connections, alternately on loops 0 and 1,
// the i-th with the request header lines hdr(i), and runs the tasks their
// arrival posted (presence events).
func openMembers(tb testing.TB, p *engine.InProc, n int, hdr func(i int) []string) []*engine.Conn {
	tb.Helper()
	conns := make([]*engine.Conn, n)
	for i := range conns {
		c, err := p.Open("/chat", i%2, false, hdr(i)...)
		if err != nil {
			tb.Fatal(err)
		}
		conns[i] = c
	}
	p.Drain()
	return conns
}

// runBroadcast times conns[0] sending msg to its room (all of conns) and
// reports ns/delivery and the wire bytes the last member is written per
// message.
func runBroadcast(b *testing.B, p *engine.InProc, conns []*engine.Conn, msg []byte) {
	sender, last := conns[0], conns[len(conns)-1]
	// Warm the pools.
	p.Message(sender, codec.OpText, msg)
	p.Drain()
	// On TLS, every member is busy from the sweep on: the AEADs the next
	// message builds are kept.
	p.Sweep()
	p.Message(sender, codec.OpText, msg)
	p.Drain()
	before := p.Written(last)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		p.Message(sender, codec.OpText, msg)
		p.Drain()
	}
	cpu := cpuTime() - cpu0
	b.StopTimer()
	wire := p.Written(last) - before
	if wire == 0 {
		b.Fatal("nothing delivered")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(conns)), "ns/delivery")
	// CPU time (user+system, the whole process) rather than wall time:
	// on a shared machine the wall clock also counts the time other
	// processes had the cores.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(len(conns)), "cpu-ns/delivery")
	b.ReportMetric(float64(len(conns)), "deliveries/op")
	b.ReportMetric(float64(wire)/float64(b.N), "wire-bytes/delivery")
}

// BenchmarkBroadcast2kJSON and BenchmarkBroadcast2kCompressed fan a 1 KiB
// chat-like JSON message out to 2,000 JSON members, plain and with
// permessage-deflate negotiated by every member: the message is compressed
// once and the compressed frame shared, so the cost per delivery should
// stay close to the plain one. wire-bytes/delivery is what one member is
// written per message.
func BenchmarkBroadcast2kJSON(b *testing.B)       { benchmarkBroadcast1KiB(b, false) }
func BenchmarkBroadcast2kCompressed(b *testing.B) { benchmarkBroadcast1KiB(b, true) }

func benchmarkBroadcast1KiB(b *testing.B, compressed bool) {
	p := engine.NewInProc(engine.Config{Compression: compressed}, 2)
	hub.New(p.Server(), hub.Config{Shards: 4})
	conns := openMembers(b, p, 2000, func(int) []string {
		if compressed {
			return []string{jsonHeader, deflateHeader}
		}
		return []string{jsonHeader}
	})
	// The JSON event around the text makes the frame about 1 KiB.
	runBroadcast(b, p, conns, []byte(`{"type":"message","text":"`+chatText(900)+`"}`))
}

// cpuTime is the process's user plus system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
