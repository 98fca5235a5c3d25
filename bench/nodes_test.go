package bench

import (
	"strings"
	"testing"
)

// Users are dealt round robin over the URLs, senders among themselves, so
// that senders evenly spaced at a multiple of the URL count still spread.
func TestNodeOf(t *testing.T) {
	urls := []string{"ws://127.0.0.1:1", "ws://127.0.0.1:2", "ws://127.0.0.1:3"}
	tests := []struct {
		name     string
		cfg      Config
		users    [3]int // per URL
		senders  [3]int // per URL
		firstTen string
	}{
		{"connect: plain round robin", Config{Scenario: Connect, Conns: 10}, [3]int{4, 3, 3}, [3]int{}, "0120120120"},
		{"broadcast 6000/25: stride 240 is a multiple of 3", Config{Scenario: Broadcast, Conns: 6000, Senders: 25},
			[3]int{2000, 2000, 2000}, [3]int{9, 8, 8}, "1201201201"},
		{"chat: talkers spread too", Config{Scenario: Chat, Conns: 300, TalkFrac: 0.1},
			[3]int{100, 100, 100}, [3]int{10, 10, 10}, "0120120120"},
		{"broadcast 10/4", Config{Scenario: Broadcast, Conns: 10, Senders: 4}, [3]int{4, 3, 3}, [3]int{2, 1, 1}, "1200112200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.URLs = urls
			cfg, err := cfg.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			var users, senders [3]int
			var first strings.Builder
			k := cfg.sendersOf()
			for i := range cfg.Conns {
				n := cfg.NodeOf(i)
				users[n]++
				if _, ok := senderIndex(i, cfg.Conns, k); ok && k > 0 {
					senders[n]++
				}
				if i < 10 {
					first.WriteByte(byte('0' + n))
				}
			}
			if users != tt.users || senders != tt.senders {
				t.Errorf("users %v senders %v per URL, want %v and %v", users, senders, tt.users, tt.senders)
			}
			if first.String() != tt.firstTen {
				t.Errorf("first ten users on %s, want %s", first.String(), tt.firstTen)
			}
		})
	}
	one, _ := Config{Scenario: Broadcast, URL: urls[0], Conns: 50}.withDefaults()
	for i := range 50 {
		if one.NodeOf(i) != 0 {
			t.Fatalf("one URL: user %d on %d", i, one.NodeOf(i))
		}
	}
}

func TestURLsDefaults(t *testing.T) {
	cfg, err := Config{Scenario: Chat, URLs: []string{"ws://127.0.0.1:1", "ws://localhost:2/chat?room=x", "ws://127.0.0.1"}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ws://127.0.0.1:1/chat", "ws://localhost:2/chat?room=x", "ws://127.0.0.1:80/chat"}
	if strings.Join(cfg.URLs, " ") != strings.Join(want, " ") || cfg.URL != want[0] {
		t.Errorf("URLs %q URL %q, want %q", cfg.URLs, cfg.URL, want)
	}
	for _, bad := range []Config{
		{Scenario: Echo, URLs: []string{"ws://127.0.0.1:1", "http://127.0.0.1:2"}},
		{Scenario: Echo, URLs: []string{"ws://127.0.0.1:1", "ws:///x"}},
		{Scenario: AttackInbound, URLs: []string{"ws://127.0.0.1:1", "ws://127.0.0.1:2"}},
		{Scenario: Echo, URLs: make([]string, MaxURLs+1)},
	} {
		if _, err := bad.withDefaults(); err == nil || !strings.HasPrefix(err.Error(), "bench: ") {
			t.Errorf("%v %q: err = %v, want a bench: error", bad.Scenario, bad.URLs, err)
		}
	}
}

// The broadcast accounting per pair of URLs: a cluster expects every
// accepted broadcast on every URL, islands on the sender's only; a surplus
// on one pair never hides a loss on another.
func TestBroadcastCountsPerURL(t *testing.T) {
	// Two URLs, 3 and 2 users open; senders on URL 0 had 10 accepted, on
	// URL 1 4. Deliveries (from, to): (0,0) 30, (0,1) 19 (one lost),
	// (1,0) 12, (1,1) 9 (one lost) plus one duplicate on (1,0)... kept apart:
	m := &workerResult{OpenN: []int{3, 2},
		AckN:  [][]int64{{6, 4}, {4, 0}},
		RecvX: [][]int64{{18, 12}, {12, 7}, {13, 0}, {6, 2}}}
	tests := []struct {
		name                   string
		islands                bool
		exp, got, lost, extra  int64
		nodeExp, nodeLost, oth [2]int64
	}{
		{"cluster", false, 10*5 + 4*5, 30 + 19 + 13 + 8, 1 + 0, 1,
			[2]int64{10*3 + 4*3, 10*2 + 4*2}, [2]int64{0, 1}, [2]int64{13, 19}},
		{"islands", true, 10*3 + 4*2, 30 + 19 + 13 + 8, 0, 19 + 13,
			[2]int64{10 * 3, 4 * 2}, [2]int64{0, 0}, [2]int64{13, 19}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &Config{Islands: tt.islands}
			rep := &Report{Nodes: make([]NodeCounts, 2)}
			exp, got, lost, extra := broadcastCounts(rep, cfg, m, 2)
			if exp != tt.exp || got != tt.got || lost != tt.lost || extra != tt.extra {
				t.Errorf("exp %d got %d lost %d extra %d, want %d %d %d %d", exp, got, lost, extra, tt.exp, tt.got, tt.lost, tt.extra)
			}
			for i, n := range rep.Nodes {
				if n.Expected != tt.nodeExp[i] || n.Lost != tt.nodeLost[i] || n.FromOther != tt.oth[i] || n.Accepted != [2]int64{10, 4}[i] {
					t.Errorf("node %d = %+v, want expected %d lost %d from other %d", i, n, tt.nodeExp[i], tt.nodeLost[i], tt.oth[i])
				}
			}
		})
	}
	// The first second only: 6 and 4 accepted.
	exp, _, _, _ := broadcastCounts(&Report{}, &Config{}, m, 1)
	if exp != 6*5+4*5 {
		t.Errorf("cut at 1 s: expected %d, want %d", exp, 50)
	}
}
