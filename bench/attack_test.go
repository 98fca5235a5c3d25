package bench_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"edgews/bench"
	"edgews/codec"
	"edgews/engine"
	"edgews/engine/enginetest"
	"edgews/hub"
)

// The attack scenarios against the real node, at test scale: the counts
// they report must be what the node did.

// attackBytes is what one inbound attacker writes before it stalls.
func attackBytes(frame int, frac float64) int64 {
	return int64(codec.HeaderLen(frame, true) + int(frac*float64(frame)))
}

// With a message timeout longer than the idle timeout (the default 30 s
// against 1 s here) the node holds a stalled frame until the idle timeout
// closes the connection (1001 "timeout"); the healthy clients echo
// throughout.
func TestAttackInboundHeldUntilIdleTimeout(t *testing.T) {
	srv := startServer(t, engine.Config{Timeout: time.Second}, hub.Config{})
	url := "ws://" + srv.Addr().String()
	rep := run(t, bench.Config{Scenario: bench.AttackInbound, URL: url, Conns: 20, Healthy: 2, FrameSize: 100_000,
		Duration: 2500 * time.Millisecond, Settle: 200 * time.Millisecond, ServerPIDs: []int{selfPID()}})
	a := rep.Attack
	if a == nil || a.Attackers != 20 || a.Healthy != 2 {
		t.Fatalf("attack = %+v, want 20 attackers and 2 healthy clients", a)
	}
	if want := 20 * attackBytes(100_000, bench.DefaultSendFrac); a.BytesSent != want {
		t.Errorf("bytes sent %d, want %d (20 x header + 99.9%% of the body)", a.BytesSent, want)
	}
	if a.Closed != 20 || a.OpenAtEnd != 0 || a.CloseCodes["1001"] != 20 {
		t.Fatalf("closed %d (codes %v), open at end %d: want all 20 closed with 1001 by the idle timeout", a.Closed, a.CloseCodes, a.OpenAtEnd)
	}
	// The timeout runs from the last read, the partial body at the start.
	if a.FirstCloseSec < 0.5 || a.LastCloseSec > 2.5 || a.MedianCloseSec < a.FirstCloseSec || a.MedianCloseSec > a.LastCloseSec {
		t.Errorf("closes at %v / %v / %v s, want about 1 s (the idle timeout)", a.FirstCloseSec, a.MedianCloseSec, a.LastCloseSec)
	}
	m := rep.Messages
	if a.HealthyLost != 0 || m.Sent == 0 || m.Received != m.Sent || m.Lost != 0 || rep.Latency.Count != m.Received {
		t.Fatalf("healthy lost %d, messages %+v: want the healthy clients echoing throughout", a.HealthyLost, m)
	}
	enginetest.CheckFor(t, 5*time.Second, func() bool { return srv.Stats().OpenConns == 0 }, "the server to hold no connection")
	s := rep.Servers
	if len(s) != 1 || s[0].Error != "" || s[0].RSSBeforeBytes == 0 || s[0].RSSPeakBytes < s[0].RSSBeforeBytes ||
		s[0].RSSPeakBytes < s[0].RSSEndBytes || s[0].RSSPeakBytes < s[0].RSSAfterBytes {
		t.Fatalf("servers = %+v, want before <= peak >= end, after", s)
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"20 attackers", "20 by the server (close code: 20 with 1001)", "0 still open", "peak"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"close_codes":{"1001":20}`, `"rss_peak_bytes":`, `"frame_size":100000`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("JSON lacks %s: %s", want, js)
		}
	}
}

// A trickling attacker keeps the idle timeout from firing: short of the
// message timeout (30 s by default) the node holds it for as long as the
// attack lasts.
func TestAttackInboundTrickleIsHeld(t *testing.T) {
	url := startNodeWith(t, engine.Config{Timeout: time.Second}, hub.Config{})
	rep := run(t, bench.Config{Scenario: bench.AttackInbound, URL: url, Conns: 20, Healthy: 1, FrameSize: 100_000,
		Trickle: 100 * time.Millisecond, Duration: 2 * time.Second, Settle: 100 * time.Millisecond})
	a := rep.Attack
	if a.Attackers != 20 || a.Closed != 0 || a.OpenAtEnd != 20 {
		t.Fatalf("attack = %+v, want 20 attackers all open at the end", a)
	}
	stalled := 20 * attackBytes(100_000, bench.DefaultSendFrac)
	// About 19 trickled bytes each over 2 s; at least 10 under load.
	if a.BytesSent < stalled+20*10 || a.BytesSent > stalled+20*25 {
		t.Errorf("bytes sent %d, want %d plus 10-25 trickled bytes per attacker", a.BytesSent, stalled)
	}
	if rep.Messages.Received == 0 || rep.Messages.Lost != 0 || a.HealthyLost != 0 {
		t.Errorf("healthy: %+v, lost %d", rep.Messages, a.HealthyLost)
	}
}

// The node closes members that do not read once their queue passes
// --max-outbound-bytes (TCP close, no close frame); the healthy members
// receive every line. The node runs as its own process: in this one, under
// -race, it would slow the healthy readers into slow consumers too.
func TestAttackOutboundHogsClosedAsSlowConsumers(t *testing.T) {
	n := startBuiltNode(t, "--chat-rate", "0", "--max-outbound-bytes", strconv.Itoa(1<<20))
	// 600 lines of 3900 B: 2.3 MB per hog, twice the 1 MiB queue plus what
	// the kernel's socket buffers take for a hog (about 80 KB, see hogMSS).
	rep := run(t, bench.Config{Scenario: bench.AttackOutbound, URL: "ws://" + n.Addr, Conns: 10, Healthy: 2, Lines: 600, Rate: 1000,
		Drain: 500 * time.Millisecond, Settle: 100 * time.Millisecond, ServerPIDs: []int{n.PID}})
	a, m := rep.Attack, rep.Messages
	if a.Attackers != 10 || a.Closed != 10 || a.OpenAtEnd != 0 || a.CloseCodes["none"] != 10 {
		t.Fatalf("attack = %+v, want 10 hogs closed without a close frame", a)
	}
	if a.HogBytesRead == 0 || a.HogBytesRead >= 10*600*3900 {
		t.Errorf("hogs read %d bytes at the end, want some but not every line", a.HogBytesRead)
	}
	if m.Sent != 600 || m.Refused != 0 || a.Healthy != 3 || a.HealthyLost != 0 {
		t.Fatalf("messages %+v, healthy %d lost %d: want 600 lines sent to 2 healthy members and the sender", m, a.Healthy, a.HealthyLost)
	}
	if m.Expected != 600*3 || m.Received != m.Expected || m.Lost != 0 {
		t.Fatalf("messages = %+v, want every line received by the 3 readers", m)
	}
	// The send phase ends with the last line, not at Duration.
	if m.DurationSec < 0.5 || m.DurationSec > 3 {
		t.Errorf("send phase %v s, want about 0.6", m.DurationSec)
	}
	if s := rep.Servers; len(s) != 1 || s[0].PID != n.PID || s[0].Error != "" || s[0].RSSPeakBytes < s[0].RSSBeforeBytes {
		t.Fatalf("servers = %+v, want the node measured", s)
	}
}

// Attacks are refused before any dial: a target off loopback, or past a
// bound.
func TestAttackRefusals(t *testing.T) {
	in, out := bench.AttackInbound, bench.AttackOutbound
	lo := "ws://127.0.0.1:9"
	for _, tc := range []struct {
		name string
		cfg  bench.Config
		want string
	}{
		{"not loopback", bench.Config{Scenario: in, URL: "ws://10.1.2.3:8080"}, "only target a loopback server"},
		{"not loopback v6", bench.Config{Scenario: out, URL: "ws://[2001:db8::1]:8080"}, "only target a loopback server"},
		{"procs", bench.Config{Scenario: in, URL: lo, Procs: 2}, "one process"},
		{"conns", bench.Config{Scenario: in, URL: lo, Conns: bench.MaxAttackConns + 1}, "connections 10001 is over the bound"},
		{"healthy", bench.Config{Scenario: out, URL: lo, Healthy: bench.MaxHealthy + 1}, "healthy clients"},
		{"frame", bench.Config{Scenario: in, URL: lo, FrameSize: bench.MaxAttackFrame + 1}, "frame size"},
		{"bytes", bench.Config{Scenario: in, URL: lo, Conns: 10_000, FrameSize: 1 << 20}, "connections x frame size"},
		{"send frac", bench.Config{Scenario: in, URL: lo, SendFrac: 1.5}, "send fraction"},
		{"lines", bench.Config{Scenario: out, URL: lo, Lines: bench.MaxAttackLines + 1}, "lines"},
		{"line size", bench.Config{Scenario: out, URL: lo, Payload: bench.MaxAttackLine + 1}, "line size"},
		{"rate", bench.Config{Scenario: out, URL: lo, Rate: bench.MaxAttackRate + 1}, "line rate"},
		{"duration", bench.Config{Scenario: in, URL: lo, Duration: bench.MaxAttackDuration + time.Second}, "duration"},
		{"settle", bench.Config{Scenario: out, URL: lo, Settle: bench.MaxSettle + time.Second}, "settle"},
		{"negative", bench.Config{Scenario: in, URL: lo, Trickle: -time.Second}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			rep, err := runErr(t, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "bench: ") {
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
			if rep != nil || time.Since(start) > time.Second {
				t.Errorf("report %+v after %v, want none, at once", rep, time.Since(start))
			}
		})
	}
}

// Over --memory-budget the node closes the largest holders with 1013 until
// it is under 90% of the budget; what stays open holds less than it, and the
// healthy clients never notice.
func TestAttackInboundBudgetEvictsWith1013(t *testing.T) {
	const budget = 32 << 20
	n := startBuiltNode(t, "--memory-budget", strconv.Itoa(budget))
	rep := run(t, bench.Config{Scenario: bench.AttackInbound, URL: "ws://" + n.Addr, Conns: 40, Healthy: 2, FrameSize: 1_000_000,
		Duration: 1500 * time.Millisecond, Settle: 200 * time.Millisecond, ServerPIDs: []int{n.PID}})
	a, m := rep.Attack, rep.Messages
	if a.Attackers != 40 || a.Closed == 0 || a.CloseCodes["1013"] != a.Closed || a.Closed+a.OpenAtEnd != 40 {
		t.Fatalf("attack = %+v, want some of the 40 attackers closed, all with 1013", a)
	}
	if held := int64(a.OpenAtEnd) * attackBytes(1_000_000, bench.DefaultSendFrac); held > budget {
		t.Errorf("%d attackers left open hold %d bytes, over the %d budget", a.OpenAtEnd, held, budget)
	}
	if a.LastCloseSec > 1.5 {
		t.Errorf("last eviction %v s after the attack began, want within the attack", a.LastCloseSec)
	}
	if a.HealthyLost != 0 || m.Sent == 0 || m.Received != m.Sent {
		t.Fatalf("healthy lost %d, messages %+v: want the healthy clients echoing throughout", a.HealthyLost, m)
	}
	if s := rep.Servers; len(s) != 1 || s[0].Error != "" || s[0].RSSPeakBytes <= s[0].RSSBeforeBytes {
		t.Fatalf("servers = %+v, want the node's RSS measured", s)
	}
}

// --message-timeout closes a trickling frame with 1008, whatever the idle
// timeout; /chat's frame limit closes a 1,000,000-byte frame with 1009 at
// its header.
func TestAttackInboundMessageTimeoutAndChatLimit(t *testing.T) {
	n := startBuiltNode(t, "--message-timeout", "1s")
	rep := run(t, bench.Config{Scenario: bench.AttackInbound, URL: "ws://" + n.Addr, Conns: 20, Healthy: 1, FrameSize: 100_000,
		Trickle: 100 * time.Millisecond, Duration: 2 * time.Second, Settle: 100 * time.Millisecond})
	if a := rep.Attack; a.Closed != 20 || a.CloseCodes["1008"] != 20 || a.FirstCloseSec < 0.8 || a.LastCloseSec > 2 {
		t.Fatalf("attack = %+v, want the 20 trickling attackers closed with 1008 about 1 s in", a)
	}
	rep = run(t, bench.Config{Scenario: bench.AttackInbound, URL: "ws://" + n.Addr + "/chat", Conns: 20, Healthy: 1,
		Duration: 500 * time.Millisecond, Settle: 100 * time.Millisecond})
	if a := rep.Attack; a.Closed != 20 || a.CloseCodes["1009"] != 20 || a.LastCloseSec > 0.5 {
		t.Fatalf("attack = %+v, want the 20 /chat attackers closed with 1009 at once", a)
	}
	if m := rep.Messages; m.Sent == 0 || m.Received != m.Sent || rep.Attack.HealthyLost != 0 {
		t.Fatalf("healthy messages %+v: want them echoing on /echo throughout", m)
	}
}
