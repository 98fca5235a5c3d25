package hub_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"edgews/hub"
)

// stored is what a Read gave, copied out of the callback.
type stored struct {
	off  uint64
	from string
	text string
	me   bool
}

func readAll(s hub.History, room string, since uint64, epoch string, resume bool, max int) (msgs []stored, roomEpoch string, reset bool) {
	roomEpoch, reset = s.Read(room, since, epoch, resume, max, func(m *hub.HistoryMessage) {
		if m.Epoch == "" {
			panic("message without epoch")
		}
		msgs = append(msgs, stored{m.Offset, string(m.From), string(m.Text), m.Me})
	})
	return msgs, roomEpoch, reset
}

func offsets(msgs []stored) []uint64 {
	var out []uint64
	for _, m := range msgs {
		out = append(out, m.off)
	}
	return out
}

// histClock is a settable clock for the TTL.
type histClock struct{ t time.Time }

func (c *histClock) now() time.Time { return c.t }

// Offsets count per room from 1 without gaps, each room has its own
// epoch, and a room keeps its last PerRoom messages.
func TestMemoryHistoryOffsetsPerRoom(t *testing.T) {
	s := hub.NewMemoryHistory(hub.MemoryHistoryConfig{PerRoom: 3})
	var epochA string
	for i := 1; i <= 5; i++ {
		off, epoch := s.Append("a", 0, map[bool]hub.MessageFlags{true: hub.MessageMe}[i == 2], "alice", []byte(fmt.Sprint("a", i)), 1000)
		if off != uint64(i) {
			t.Fatalf("offset %d, want %d", off, i)
		}
		if epochA == "" {
			epochA = epoch
		} else if epoch != epochA {
			t.Fatalf("epoch changed from %q to %q", epochA, epoch)
		}
	}
	off, epochB := s.Append("b", 0, 0, "bob", []byte("b1"), 1000)
	if off != 1 || epochB == epochA || epochB == "" {
		t.Fatalf("room b: offset %d epoch %q (room a's %q)", off, epochB, epochA)
	}
	msgs, epoch, reset := readAll(s, "a", 0, "", false, 10)
	if epoch != epochA || reset {
		t.Fatalf("epoch %q reset %v", epoch, reset)
	}
	want := []stored{{3, "alice", "a3", false}, {4, "alice", "a4", false}, {5, "alice", "a5", false}}
	if !slices.Equal(msgs, want) {
		t.Fatalf("room a holds %v, want %v", msgs, want)
	}
	if msgs, _, _ := readAll(s, "a", 0, "", false, 2); !slices.Equal(offsets(msgs), []uint64{4, 5}) {
		t.Fatalf("newest 2: %v", offsets(msgs))
	}
	if s.Len() != 4 {
		t.Fatalf("Len = %d, want 4", s.Len())
	}
}

// Resuming gives exactly the messages after the offset; a stale epoch, an
// offset no longer held or never given, or more than max missing resets
// to the newest messages.
func TestMemoryHistoryResume(t *testing.T) {
	s := hub.NewMemoryHistory(hub.MemoryHistoryConfig{PerRoom: 5})
	var epoch string
	for i := 0; i < 8; i++ { // holds 4..8
		_, epoch = s.Append("r", 0, 0, "u", []byte("x"), 1)
	}
	tests := []struct {
		name      string
		since     uint64
		epoch     string
		resume    bool
		max       int
		want      []uint64
		wantReset bool
	}{
		{"no resume", 0, "", false, 5, []uint64{4, 5, 6, 7, 8}, false},
		{"no resume, max 2", 0, "", false, 2, []uint64{7, 8}, false},
		{"resume after 5", 5, epoch, true, 5, []uint64{6, 7, 8}, false},
		{"resume after the oldest but one", 3, epoch, true, 5, []uint64{4, 5, 6, 7, 8}, false},
		{"up to date", 8, epoch, true, 5, nil, false},
		{"too old", 2, epoch, true, 5, []uint64{4, 5, 6, 7, 8}, true},
		{"stale epoch", 5, "other-1", true, 5, []uint64{4, 5, 6, 7, 8}, true},
		{"no epoch", 5, "", true, 5, []uint64{4, 5, 6, 7, 8}, true},
		{"offset never given", 9, epoch, true, 5, []uint64{4, 5, 6, 7, 8}, true},
		{"more missing than max", 4, epoch, true, 2, []uint64{7, 8}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, got, reset := readAll(s, "r", tt.since, tt.epoch, tt.resume, tt.max)
			if got != epoch || reset != tt.wantReset || !slices.Equal(offsets(msgs), tt.want) {
				t.Fatalf("got %v reset %v epoch %q, want %v reset %v epoch %q", offsets(msgs), reset, got, tt.want, tt.wantReset, epoch)
			}
		})
	}
	// A room the store does not know resets any resume.
	if msgs, _, reset := readAll(s, "nowhere", 0, epoch, true, 5); !reset || msgs != nil {
		t.Fatalf("unknown room: %v reset %v", msgs, reset)
	}
}

// The byte cap drops the oldest messages node-wide first, whichever room
// they are in, and the store stays under it.
func TestMemoryHistoryByteCapOldestFirst(t *testing.T) {
	// Measure what one message costs, then allow six.
	probe := hub.NewMemoryHistory(hub.MemoryHistoryConfig{PerRoom: 10})
	probe.Hold("a")
	probe.Hold("b")
	base := probe.Bytes()
	probe.Append("a", 0, 0, "u", []byte("0123456789"), 1)
	per := probe.Bytes() - base
	s := hub.NewMemoryHistory(hub.MemoryHistoryConfig{PerRoom: 10, MaxBytes: base + 6*per, RoomMaxBytes: base + 6*per})
	s.Hold("a")
	s.Hold("b")
	for i := 1; i <= 5; i++ { // a1 b1 a2 b2 ... a5 b5: oldest first are a1, b1, a2, b2
		s.Append("a", 0, 0, "u", []byte(fmt.Sprintf("a%08d", i)), 1)
		s.Append("b", 0, 0, "u", []byte(fmt.Sprintf("b%08d", i)), 1)
		if s.Bytes() > base+6*per {
			t.Fatalf("Bytes = %d over the cap %d", s.Bytes(), base+6*per)
		}
	}
	a, _, _ := readAll(s, "a", 0, "", false, 10)
	b, _, _ := readAll(s, "b", 0, "", false, 10)
	if !slices.Equal(offsets(a), []uint64{3, 4, 5}) || !slices.Equal(offsets(b), []uint64{3, 4, 5}) {
		t.Fatalf("after the cap: a %v, b %v; want 3..5 in both", offsets(a), offsets(b))
	}
	// The room whose history went keeps its epoch while it is held: a
	// resume from a dropped offset resets, from a held one does not.
	_, epoch, _ := readAll(s, "a", 0, "", false, 10)
	if _, _, reset := readAll(s, "a", 1, epoch, true, 10); !reset {
		t.Fatal("resume after a dropped offset did not reset")
	}
	if msgs, _, reset := readAll(s, "a", 3, epoch, true, 10); reset || !slices.Equal(offsets(msgs), []uint64{4, 5}) {
		t.Fatalf("resume after 3: %v reset %v", offsets(msgs), reset)
	}
}

// Messages older than the TTL go, the oldest first, whichever room; a
// room nobody holds is forgotten with its last message (its next message
// starts a new epoch), a held one keeps its epoch and offsets.
func TestMemoryHistoryTTL(t *testing.T) {
	clk := &histClock{t: time.Unix(1_000_000, 0)}
	s := hub.NewMemoryHistory(hub.MemoryHistoryConfig{PerRoom: 10, TTL: time.Hour, Now: clk.now})
	s.Hold("held")
	_, oldEpoch := s.Append("empty", 0, 0, "u", []byte("first"), 1) // nobody holds "empty": its members left
	_, heldEpoch := s.Append("held", 0, 0, "u", []byte("h1"), 1)
	clk.t = clk.t.Add(30 * time.Minute)
	s.Append("empty", 0, 0, "u", []byte("second"), 1)
	s.Append("held", 0, 0, "u", []byte("h2"), 1)

	clk.t = clk.t.Add(30 * time.Minute) // the first two are an hour old
	if msgs, _, _ := readAll(s, "empty", 0, "", false, 10); !slices.Equal(offsets(msgs), []uint64{2}) {
		t.Fatalf("empty room after 1h: %v, want [2]", offsets(msgs))
	}
	if msgs, _, _ := readAll(s, "held", 0, "", false, 10); !slices.Equal(offsets(msgs), []uint64{2}) {
		t.Fatalf("held room after 1h: %v, want [2]", offsets(msgs))
	}
	clk.t = clk.t.Add(30 * time.Minute) // all gone, even before a read
	if s.Len() != 0 {
		t.Fatalf("Len = %d, want 0", s.Len())
	}
	if msgs, _, _ := readAll(s, "held", 0, "", false, 10); msgs != nil {
		t.Fatalf("held room after 1h30: %v", offsets(msgs))
	}
	off, epoch := s.Append("empty", 0, 0, "u", []byte("again"), 1)
	if off != 1 || epoch == oldEpoch {
		t.Fatalf("forgotten room: offset %d epoch %q (old %q), want 1 and a new epoch", off, epoch, oldEpoch)
	}
	off, epoch = s.Append("held", 0, 0, "u", []byte("h3"), 1)
	if off != 3 || epoch != heldEpoch {
		t.Fatalf("held room: offset %d epoch %q, want 3 and %q", off, epoch, heldEpoch)
	}
	s.Release("held")
	if msgs, _, _ := readAll(s, "held", 0, "", false, 10); !slices.Equal(offsets(msgs), []uint64{3}) {
		t.Fatalf("released room keeps its history until the TTL: %v", offsets(msgs))
	}
}

// Two stores (a node and the same node restarted) never share an epoch.
func TestMemoryHistoryEpochPerRun(t *testing.T) {
	a := hub.NewMemoryHistory(hub.MemoryHistoryConfig{PerRoom: 1})
	b := hub.NewMemoryHistory(hub.MemoryHistoryConfig{PerRoom: 1})
	_, ea := a.Append("lobby", 0, 0, "u", nil, 1)
	_, eb := b.Append("lobby", 0, 0, "u", nil, 1)
	if ea == eb {
		t.Fatalf("both runs have epoch %q", ea)
	}
}

// A mirror takes offsets and epochs as given: a room has no epoch before
// its first message; a new epoch or an offset going back starts the room's
// history again (a gap ahead is a deleted message); the TTL counts from
// when a message was said.
func TestMemoryHistoryMirrorPut(t *testing.T) {
	clk := &histClock{t: time.Unix(1_000_000, 0)}
	s := hub.NewMemoryHistory(hub.MemoryHistoryConfig{PerRoom: 3, TTL: time.Hour, Now: clk.now, Mirror: true})
	s.Hold("r")
	if _, epoch, _ := readAll(s, "r", 0, "", false, 10); epoch != "" {
		t.Fatalf("epoch before any message: %q", epoch)
	}
	ms := clk.t.UnixMilli()
	for off := uint64(7); off <= 10; off++ {
		s.Put("r", off, "e1", 0, "u", []byte(fmt.Sprint("m", off)), ms)
	}
	msgs, epoch, _ := readAll(s, "r", 0, "", false, 10)
	if epoch != "e1" || !slices.Equal(offsets(msgs), []uint64{8, 9, 10}) {
		t.Fatalf("after 7..10: %v epoch %q", offsets(msgs), epoch)
	}
	if msgs, _, reset := readAll(s, "r", 8, "e1", true, 10); reset || !slices.Equal(offsets(msgs), []uint64{9, 10}) {
		t.Fatalf("resume after 8: %v reset %v", offsets(msgs), reset)
	}
	// A gap ahead is a deleted message (Control.Delete): the history
	// stays, and resuming across the gap is no reset.
	s.Put("r", 12, "e1", 0, "u", []byte("gap"), ms) // 11 deleted
	if msgs, _, _ := readAll(s, "r", 0, "", false, 10); !slices.Equal(offsets(msgs), []uint64{9, 10, 12}) {
		t.Fatalf("after a gap: %v", offsets(msgs))
	}
	if msgs, _, reset := readAll(s, "r", 10, "e1", true, 10); reset || !slices.Equal(offsets(msgs), []uint64{12}) {
		t.Fatalf("resume across the gap: %v reset %v", offsets(msgs), reset)
	}
	if msgs, _, reset := readAll(s, "r", 7, "e1", true, 10); !reset || !slices.Equal(offsets(msgs), []uint64{9, 10, 12}) {
		t.Fatalf("resume after 7, dropped by the cap: %v reset %v", offsets(msgs), reset)
	}
	// An offset going back starts the room's history again.
	s.Put("r", 5, "e1", 0, "u", []byte("back"), ms)
	if msgs, _, _ := readAll(s, "r", 0, "", false, 10); !slices.Equal(offsets(msgs), []uint64{5}) {
		t.Fatalf("after going back: %v", offsets(msgs))
	}
	s.Put("r", 1, "e2", 0, "u", []byte("new"), ms)
	if msgs, epoch, _ := readAll(s, "r", 0, "", false, 10); epoch != "e2" || !slices.Equal(offsets(msgs), []uint64{1}) {
		t.Fatalf("new epoch: %v %q", offsets(msgs), epoch)
	}
	// Replayed from a stream after a restart, the oldest come first and
	// expire by when they were said.
	s.Put("q", 1, "e3", 0, "u", []byte("2h ago"), ms-int64(2*time.Hour/time.Millisecond))
	s.Put("q", 2, "e3", 0, "u", []byte("now"), ms)
	if msgs, _, reset := readAll(s, "q", 1, "e3", true, 10); reset || !slices.Equal(offsets(msgs), []uint64{2}) {
		t.Fatalf("after the TTL: %v reset %v", offsets(msgs), reset)
	}
}

// A message counts its size as JSON when that is larger than its buffer:
// a line of control characters (each \u00XX in JSON) costs six times a
// line of letters of the same length.
func TestMemoryHistoryCountsEncodedSize(t *testing.T) {
	cost := func(text string) int64 {
		s := hub.NewMemoryHistory(hub.MemoryHistoryConfig{PerRoom: 10})
		s.Hold("r")
		base := s.Bytes()
		s.Append("r", 0, 0, "u", []byte(text), 1)
		return s.Bytes() - base
	}
	plain, escaped := cost(strings.Repeat("a", 4096)), cost(strings.Repeat("\x01", 4096))
	if escaped < 6*4096 || escaped-plain < 5*4096-2048 {
		t.Fatalf("a 4,096-byte line costs %d bytes, of control characters %d: want the JSON size (6 x 4,096)", plain, escaped)
	}
}

// One room holds at most RoomMaxBytes (its oldest go first, other rooms
// keep theirs), and one owner too (its messages over it are not kept:
// offset 0, and the room's next offset follows without a gap).
func TestMemoryHistoryShares(t *testing.T) {
	probe := hub.NewMemoryHistory(hub.MemoryHistoryConfig{PerRoom: 10})
	probe.Hold("p")
	base := probe.Bytes()
	probe.Append("p", 0, 0, "u", []byte("0123456789"), 1)
	per := probe.Bytes() - base
	s := hub.NewMemoryHistory(hub.MemoryHistoryConfig{PerRoom: 50, RoomMaxBytes: 3 * per})
	s.Append("other", 0, 0, "u", []byte("keep-me-00"), 1)
	for i := 1; i <= 10; i++ {
		s.Append("busy", 0, 0, "u", []byte(fmt.Sprintf("busy-%05d", i)), 1)
	}
	if busy, _, _ := readAll(s, "busy", 0, "", false, 50); !slices.Equal(offsets(busy), []uint64{8, 9, 10}) {
		t.Fatalf("busy keeps %v, want its newest 3", offsets(busy))
	}
	if other, _, _ := readAll(s, "other", 0, "", false, 50); len(other) != 1 {
		t.Fatalf("other keeps %v", other)
	}
	// Owner 7 may hold three messages, wherever they are.
	var offs []uint64
	for i, room := range []string{"x", "y", "z", "x", "y"} {
		off, _ := s.Append(room, 7, 0, "u", []byte(fmt.Sprintf("own-%06d", i)), 1)
		offs = append(offs, off)
	}
	if !slices.Equal(offs, []uint64{1, 1, 1, 0, 0}) {
		t.Fatalf("owner 7's offsets %v, want three kept then none", offs)
	}
	if off, _ := s.Append("x", 8, 0, "u", []byte("other-owner"), 1); off != 2 {
		t.Fatalf("another owner's message in x: offset %d, want 2", off)
	}
	// Its messages leave (the room's cap drops x's oldest): it may store again.
	s.Append("x", 0, 0, "u", []byte("x-filler-1"), 1)
	s.Append("x", 0, 0, "u", []byte("x-filler-2"), 1)
	if off, _ := s.Append("y", 7, 0, "u", []byte("own-again!"), 1); off != 2 {
		t.Fatalf("owner 7 after one of its messages left: offset %d, want 2", off)
	}
}

// The flags of a message come back from Read.
func TestMemoryHistoryFlags(t *testing.T) {
	s := hub.NewMemoryHistory(hub.MemoryHistoryConfig{PerRoom: 10})
	for _, f := range []hub.MessageFlags{0, hub.MessageMe, hub.MessageVerified, hub.MessageMe | hub.MessageVerified} {
		s.Append("r", 0, f, "u", []byte("x"), 1)
	}
	var got []string
	s.Read("r", 0, "", false, 10, func(m *hub.HistoryMessage) { got = append(got, fmt.Sprint(m.Me, m.Verified)) })
	if want := []string{"false false", "true false", "false true", "true true"}; !slices.Equal(got, want) {
		t.Fatalf("flags read back %v, want %v", got, want)
	}
}
