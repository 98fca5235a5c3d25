package hub

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// The table of token names is bounded: past its size the least recently
// used name goes, and expired names go as new ones are recorded.
func TestNameHoldsBounded(t *testing.T) {
	const sec = int64(time.Second)
	tb := newNameHolds(time.Hour, 3)
	for i, name := range []string{"a", "b", "c"} {
		tb.record(name, "sub-"+name, 0, int64(i)*sec, 0)
	}
	tb.record("a", "sub-a", 0, 10*sec, 0) // a is used again: b is now the oldest
	tb.record("d", "sub-d", 0, 11*sec, 0)
	if tb.Len() != 3 || tb.against("b", "", 12*sec) || !tb.against("a", "", 12*sec) || !tb.against("c", "", 12*sec) {
		t.Fatalf("after a fourth name: %d names, b held %v, a %v", tb.Len(), tb.against("b", "", 12*sec), tb.against("a", "", 12*sec))
	}
	// An hour after c's use, recording another name drops c (expired)
	// but not a and d (used later).
	tb.record("e", "sub-e", 0, 2*sec+int64(time.Hour), 0)
	if tb.Len() != 3 || tb.against("c", "", 0) {
		t.Fatalf("after c expired: %d names, c held %v", tb.Len(), tb.against("c", "", 0))
	}
	// Many distinct names (one sub each, as tokens are) never hold more
	// than the bound.
	big := newNameHolds(time.Hour, 100)
	for i := range 10_000 {
		big.record(fmt.Sprint("user", i), fmt.Sprint("sub", i), 0, int64(i), 0)
	}
	if big.Len() != 100 || !big.against("user9999", "", 10_000) || big.against("user0", "", 10_000) {
		t.Fatalf("%d names", big.Len())
	}
}

// Against another sub a name is reserved while the token could be valid
// (exp plus the leeway; a token without exp for the hold); against an
// anonymous user for the hold after the last use; never against its own
// sub.
func TestNameHoldsAgainst(t *testing.T) {
	const min = int64(time.Minute)
	tb := newNameHolds(time.Hour, 10)
	tb.record("Alice", "u1", 3*60*min, 0, 5*time.Second) // exp in 3 hours
	tb.record("bob", "u2", 0, 0, 5*time.Second)          // no exp
	tb.record("carl", "u3", math.MaxInt64, 0, 5*time.Second)
	for _, tc := range []struct {
		name, sub string
		at        int64
		want      bool
	}{
		{"alice", "u1", 1, false},
		{"alice", "u9", 3*60*min - 1, true},
		{"alice", "u9", 3*60*min + 5*int64(time.Second), false},
		{"alice", "", 60*min - 1, true},
		{"alice", "", 60 * min, false},
		{"bob", "u9", 60*min - 1, true},
		{"bob", "u9", 60 * min, false},
		{"carl", "u9", math.MaxInt64 - 1, true}, // exp clamped to the largest time, plus the leeway: still "never"
		{"nobody", "", 0, false},
	} {
		if got := tb.against(foldName(tc.name), tc.sub, tc.at); got != tc.want {
			t.Errorf("%s against %q at %d: %v, want %v", tc.name, tc.sub, tc.at, got, tc.want)
		}
	}
	off := newNameHolds(-1, 10) // no hold: anonymous users are never refused a free name
	off.record("alice", "u1", 3*60*min, 0, 0)
	if off.against("alice", "", 1) || !off.against("alice", "u2", 1) {
		t.Fatal("with no hold")
	}
}
