package bench

import (
	"math/rand/v2"
	"net"
	"slices"
	"testing"
)

func TestSendHeapOrder(t *testing.T) {
	var h sendHeap
	rng := rand.New(rand.NewPCG(1, 2))
	var cs []*conn
	for range 200 {
		c := &conn{next: rng.Int64N(1000), hidx: -1}
		cs = append(cs, c)
		h.push(c)
	}
	// Remove some, reschedule others, then pop all in order.
	for _, c := range cs[:50] {
		h.remove(c)
	}
	for _, c := range cs[50:100] {
		c.next = rng.Int64N(1000)
		h.fix(c)
	}
	var got []int64
	for h.len() > 0 {
		c := h.min()
		got = append(got, c.next)
		h.remove(c)
	}
	if len(got) != 150 || !slices.IsSorted(got) {
		t.Fatalf("popped %d, sorted %v", len(got), slices.IsSorted(got))
	}
	for _, c := range cs {
		if c.hidx != -1 {
			t.Fatal("removed conn keeps a heap index")
		}
	}
}

func TestSourcePlan(t *testing.T) {
	cfg := Config{Conns: 100, PerSource: 40}
	p, err := planSources(&cfg, "127.0.0.1")
	if err != nil || !p.spread {
		t.Fatalf("plan = %+v, %v", p, err)
	}
	for _, tc := range []struct {
		i    int
		want string
	}{{0, "127.0.0.2"}, {39, "127.0.0.2"}, {40, "127.0.0.3"}, {99, "127.0.0.4"}} {
		if got := p.local(tc.i); !got.Equal(net.ParseIP(tc.want)) {
			t.Errorf("user %d dials from %v, want %s", tc.i, got, tc.want)
		}
	}
	cfg.Conns = 40
	if p, _ := planSources(&cfg, "127.0.0.1"); p.spread || p.local(5) != nil {
		t.Errorf("40 users need no spreading: %+v", p)
	}
	cfg.Conns = 100
	if _, err := planSources(&cfg, "192.0.2.1"); err == nil {
		t.Error("spreading toward a non-loopback server accepted")
	}
	cfg.Conns, cfg.PerSource = 1000, 1
	if _, err := planSources(&cfg, "127.0.0.1"); err == nil {
		t.Error("more than 253 source addresses accepted")
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := Config{Scenario: Broadcast, URL: "ws://localhost:9000", Payload: 5}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.URL != "ws://localhost:9000/chat" || c.Payload != MinChatPayload || c.Conns != 1000 || c.Senders != DefaultSenders {
		t.Fatalf("defaults = %+v", c)
	}
	c, _ = Config{Scenario: Echo, URL: "ws://h:1/custom", Payload: 3}.withDefaults()
	if c.URL != "ws://h:1/custom" || c.Payload != MinEchoPayload || c.Rate != 0 || c.openLoop() {
		t.Fatalf("echo = %s payload %d", c.URL, c.Payload)
	}
	c, _ = Config{Scenario: Echo, URL: "ws://h:1", Conns: 40, ConnRate: 25}.withDefaults()
	if c.Rate != 1000 || !c.openLoop() {
		t.Fatalf("echo at 25/s per conn: rate %v, open loop %v", c.Rate, c.openLoop())
	}
	if c, _ = (Config{Scenario: Chat, URL: "wss://h"}).withDefaults(); c.URL != "wss://h:443/chat" {
		t.Fatalf("wss default port: %s", c.URL)
	}
	for _, bad := range []Config{{Scenario: "nope", URL: "ws://h:1"}, {Scenario: Echo, URL: "https://h:1"}, {Scenario: Echo, URL: "ws://"},
		{Scenario: Echo, URL: "ws://h:1", Rate: 10, ConnRate: 1}, {Scenario: Broadcast, URL: "ws://h:1", ConnRate: 1}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
