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

// The broadcast accounting per pair of URLs, message by message: a cluster
// expects every accepted broadcast on every URL, islands on the sender's
// only; a user that left expects nothing due after it left; a duplicate on
// one pair never makes up for a loss, on that pair or another.
func TestAccountPerURL(t *testing.T) {
	const start = int64(1_000_000_000_000)
	// 2 senders at 10 msg/s each for 1 s: sender 0 (on URL 0) due at 0,
	// 0.1, ... 0.9 s; sender 1 (on URL 1) at 0.05, 0.15, ... 0.95 s.
	base := Config{Scenario: Broadcast, URLs: []string{"ws://127.0.0.1:1", "ws://127.0.0.1:2"}, Conns: 10, Senders: 2, Rate: 20, Duration: 1e9}
	all := []uint64{1<<10 - 1}
	// Sender 1's seq 9 arrived nowhere, nor did a later one of its, and
	// sender 1 got one reply not the bench's: refused. A user on URL 1 left
	// 0.5 s in: of sender 0's, seqs 5-9 were due after; of sender 1's,
	// 5-9, of which 5-8 were accepted.
	m := &workerResult{OpenN: []int{5, 5},
		Seen:      [][]uint64{all, {1<<9 - 1}},
		SentSlots: [][]uint64{all, all},
		Replies:   []int64{0, 1},
		Left:      []leftUser{{User: 3, Node: 1, Cut: start + 500_000_000}},
		Pairs: []pairCounts{
			{First: 48, Duplicated: 3}, // 0->0: 2 lost, 3 duplicated
			{First: 45},                // 0->1
			{First: 45},                // 1->0
			{First: 40, Duplicated: 1}, // 1->1: 1 lost
		}}
	tests := []struct {
		name      string
		islands   bool
		pairs     [4]int64 // expected per pair
		lost      [4]int64
		wantExtra int64
	}{
		{"cluster", false, [4]int64{50, 45, 45, 41}, [4]int64{2, 0, 0, 1}, 0},
		{"islands", true, [4]int64{50, 0, 0, 41}, [4]int64{2, -45, -45, 1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			cfg.Islands = tt.islands
			cfg, err := cfg.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			if u := cfg.senderUser(0); cfg.NodeOf(u) != 0 || cfg.NodeOf(cfg.senderUser(1)) != 1 || cfg.NodeOf(3) != 1 {
				t.Fatalf("senders on %d and %d, user 3 on %d", cfg.NodeOf(u), cfg.NodeOf(cfg.senderUser(1)), cfg.NodeOf(3))
			}
			a := account(&cfg, 0, m, start)
			for i, p := range a.pairs {
				if p.expected != tt.pairs[i] || p.lost != tt.lost[i] {
					t.Errorf("pair %d: expected %d lost %d, want %d %d", i, p.expected, p.lost, tt.pairs[i], tt.lost[i])
				}
			}
			if a.refused != 1 || a.undelivered != 0 || a.forged != 0 || a.accepted[0] != 10 || a.accepted[1] != 9 {
				t.Errorf("refused %d undelivered %d forged %d accepted %v, want 1, 0, 0, [10 9]", a.refused, a.undelivered, a.forged, a.accepted)
			}
			if bad := a.inconsistent(cfg.URLs); (bad != "") != tt.islands {
				// Islands receivers never count a first copy from the
				// other island as expected; this input does, and must be
				// flagged rather than netted.
				t.Errorf("inconsistent = %q", bad)
			}
		})
	}
}

// A broadcast that arrived nowhere is refused when the server went past it
// (a later one of its sender arrived) or the sender got a reply that was
// not the bench's for it; otherwise it is accepted and lost everywhere (a
// server still holding it when the drain ended).
func TestAccountRefusedOrUndelivered(t *testing.T) {
	cfg, err := Config{Scenario: Broadcast, URL: "ws://127.0.0.1:1", Conns: 5, Senders: 1, Rate: 10, Duration: 1e9}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	// 10 slots sent; 2, 7, 8, 9 arrived nowhere; 6 is the newest that did.
	seen := []uint64{0b0001111011}
	for _, tc := range []struct {
		replies                        int64
		refused, undelivered, expected int64
	}{
		{0, 1, 3, (10 - 1) * 5}, // 2 refused (gone past); 7-9 expected everywhere
		{2, 2, 2, (10 - 2) * 5}, // 2, then 7 refused by the second reply; 8 and 9 expected
		{9, 4, 0, 6 * 5},
	} {
		m := &workerResult{OpenN: []int{5}, Seen: [][]uint64{seen}, SentSlots: [][]uint64{{1<<10 - 1}}, Replies: []int64{tc.replies},
			Pairs: []pairCounts{{First: 6 * 5}}}
		a := account(&cfg, 0, m, 0)
		if a.refused != tc.refused || a.undelivered != tc.undelivered || a.pairs[0].expected != tc.expected || a.pairs[0].lost != tc.expected-30 {
			t.Errorf("%d replies: refused %d undelivered %d expected %d lost %d, want %d %d %d %d",
				tc.replies, a.refused, a.undelivered, a.pairs[0].expected, a.pairs[0].lost, tc.refused, tc.undelivered, tc.expected, tc.expected-30)
		}
	}
}

// A sequence number that arrived although its sender never sent it is
// forged (the report warns); one whisper is expected only at its target,
// and not at a target that left before it was due.
func TestAccountWhispersAndForged(t *testing.T) {
	const start = int64(5e9)
	cfg, err := Config{Scenario: Broadcast, URL: "ws://127.0.0.1:1", Conns: 4, Senders: 1, Rate: 10, Duration: 1e9}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	m := &workerResult{OpenN: []int{4},
		Seen:      [][]uint64{{0b1111111111}},
		SentSlots: [][]uint64{{0b0111111111}}, // seq 9 was skipped, yet arrived
		Whispers:  []whisperSent{{Sender: 0, Seq: 2, To: 1}, {Sender: 0, Seq: 6, To: 2}},
		Left:      []leftUser{{User: 2, Node: 0, Cut: start + 550_000_000}},
		Pairs:     []pairCounts{{First: 8*4 - 4 + 1, Whispers: 1}}}
	a := account(&cfg, 0, m, start)
	// Broadcasts: 8 accepted (10 seen, 2 whispers) × 4 users, but user 2
	// left at 0.55 s: seqs 6-9 were due after, 3 of them broadcasts.
	// Whispers: seq 2 at user 1; seq 6 (0.6 s) to user 2 after it left.
	if p := a.pairs[0]; p.expected != 8*4-3+1 || p.lost != 1 {
		t.Errorf("expected %d lost %d, want %d and 1", p.expected, p.lost, 8*4-3+1)
	}
	if a.forged != 1 || a.whispersSent != 2 || a.whispersExpected != 1 || a.whispersFirst != 1 {
		t.Errorf("forged %d whispers %d/%d/%d, want 1, 2 sent, 1 expected, 1 first", a.forged, a.whispersSent, a.whispersExpected, a.whispersFirst)
	}
}
