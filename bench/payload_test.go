package bench

import (
	"testing"
	"unicode/utf8"
)

func TestChatPayloadRoundTrip(t *testing.T) {
	p := newChatPayload(64)
	stampChat(p, kindWhisper, 123456, 42, 77, 1_700_000_000_123_456_789)
	if !utf8.Valid(p) || len(p) != 64 {
		t.Fatalf("payload %q is not 64 bytes of UTF-8", p)
	}
	for _, tc := range []struct {
		name string
		msg  string
		at   int
	}{
		{"bare", string(p), 0},
		{"broadcast", "[user17]: " + string(p), 10},
		{"whisper", "[user3 whispers]: " + string(p), 18},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, ok := parseChat([]byte(tc.msg))
			if !ok || m.kind != kindWhisper || m.sender != 123456 || m.seq != 42 || m.to != 77 || m.sent != 1_700_000_000_123_456_789 || m.at != tc.at {
				t.Fatalf("parse = %+v, %v", m, ok)
			}
		})
	}
	if name := senderName([]byte("[user17]: "+string(p)), 10); string(name) != "user17" {
		t.Errorf("sender name = %q", name)
	}
	for _, bad := range []string{"You are connected! There are 3 users here.", "[u]: #wsbB", "[u]: #wsbX0000000000000000000000000000000000"} {
		if _, ok := parseChat([]byte(bad)); ok {
			t.Errorf("parsed %q", bad)
		}
	}
}

func TestEchoPayload(t *testing.T) {
	p := newEchoPayload(MinEchoPayload)
	stampEcho(p, 987654321, 4000000000)
	if sent, seq, ok := echoStamp(p); !ok || sent != 987654321 || seq != 4000000000 {
		t.Fatalf("echoStamp = %d %d, %v", sent, seq, ok)
	}
	if _, _, ok := echoStamp(p[:MinEchoPayload-1]); ok {
		t.Fatal("short payload accepted")
	}
}

func TestSenderIndexSpreadsEvenly(t *testing.T) {
	for _, tc := range []struct{ n, k int }{{20, 5}, {1000, 10}, {7, 7}, {10, 1}, {1000, 3}} {
		seen := map[int]bool{}
		for i := range tc.n {
			if s, ok := senderIndex(i, tc.n, tc.k); ok {
				if s < 0 || s >= tc.k || seen[s] {
					t.Fatalf("n=%d k=%d: user %d got ordinal %d twice or out of range", tc.n, tc.k, i, s)
				}
				seen[s] = true
			}
		}
		if len(seen) != tc.k {
			t.Fatalf("n=%d k=%d: %d senders", tc.n, tc.k, len(seen))
		}
	}
}
