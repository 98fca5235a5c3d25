package hub_test

import (
	"fmt"
	"slices"
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
		off, epoch := s.Append("a", i == 2, "alice", []byte(fmt.Sprint("a", i)), 1000)
		if off != uint64(i) {
			t.Fatalf("offset %d, want %d", off, i)
		}
		if epochA == "" {
			epochA = epoch
		} else if epoch != epochA {
			t.Fatalf("epoch changed from %q to %q", epochA, epoch)
		}
	}
	off, epochB := s.Append("b", false, "bob", []byte("b1"), 1000)
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
		_, epoch = s.Append("r", false, "u", []byte("x"), 1)
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
	probe.Append("a", false, "u", []byte("0123456789"), 1)
	per := probe.Bytes() - base
	s := hub.NewMemoryHistory(hub.MemoryHistoryConfig{PerRoom: 10, MaxBytes: base + 6*per})
	s.Hold("a")
	s.Hold("b")
	for i := 1; i <= 5; i++ { // a1 b1 a2 b2 ... a5 b5: oldest first are a1, b1, a2, b2
		s.Append("a", false, "u", []byte(fmt.Sprintf("a%08d", i)), 1)
		s.Append("b", false, "u", []byte(fmt.Sprintf("b%08d", i)), 1)
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
	_, oldEpoch := s.Append("empty", false, "u", []byte("first"), 1) // nobody holds "empty": its members left
	_, heldEpoch := s.Append("held", false, "u", []byte("h1"), 1)
	clk.t = clk.t.Add(30 * time.Minute)
	s.Append("empty", false, "u", []byte("second"), 1)
	s.Append("held", false, "u", []byte("h2"), 1)

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
	off, epoch := s.Append("empty", false, "u", []byte("again"), 1)
	if off != 1 || epoch == oldEpoch {
		t.Fatalf("forgotten room: offset %d epoch %q (old %q), want 1 and a new epoch", off, epoch, oldEpoch)
	}
	off, epoch = s.Append("held", false, "u", []byte("h3"), 1)
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
	_, ea := a.Append("lobby", false, "u", nil, 1)
	_, eb := b.Append("lobby", false, "u", nil, 1)
	if ea == eb {
		t.Fatalf("both runs have epoch %q", ea)
	}
}

// A mirror takes offsets and epochs as given: a room has no epoch before
// its first message; a new epoch or a gap in the offsets starts the room's
// history again; the TTL counts from when a message was said.
func TestMemoryHistoryMirrorPut(t *testing.T) {
	clk := &histClock{t: time.Unix(1_000_000, 0)}
	s := hub.NewMemoryHistory(hub.MemoryHistoryConfig{PerRoom: 3, TTL: time.Hour, Now: clk.now, Mirror: true})
	s.Hold("r")
	if _, epoch, _ := readAll(s, "r", 0, "", false, 10); epoch != "" {
		t.Fatalf("epoch before any message: %q", epoch)
	}
	ms := clk.t.UnixMilli()
	for off := uint64(7); off <= 10; off++ {
		s.Put("r", off, "e1", false, "u", []byte(fmt.Sprint("m", off)), ms)
	}
	msgs, epoch, _ := readAll(s, "r", 0, "", false, 10)
	if epoch != "e1" || !slices.Equal(offsets(msgs), []uint64{8, 9, 10}) {
		t.Fatalf("after 7..10: %v epoch %q", offsets(msgs), epoch)
	}
	if msgs, _, reset := readAll(s, "r", 8, "e1", true, 10); reset || !slices.Equal(offsets(msgs), []uint64{9, 10}) {
		t.Fatalf("resume after 8: %v reset %v", offsets(msgs), reset)
	}
	s.Put("r", 12, "e1", false, "u", []byte("gap"), ms) // 11 never came
	if msgs, _, _ := readAll(s, "r", 0, "", false, 10); !slices.Equal(offsets(msgs), []uint64{12}) {
		t.Fatalf("after a gap: %v", offsets(msgs))
	}
	s.Put("r", 1, "e2", false, "u", []byte("new"), ms)
	if msgs, epoch, _ := readAll(s, "r", 0, "", false, 10); epoch != "e2" || !slices.Equal(offsets(msgs), []uint64{1}) {
		t.Fatalf("new epoch: %v %q", offsets(msgs), epoch)
	}
	// Replayed from a stream after a restart, the oldest come first and
	// expire by when they were said.
	s.Put("q", 1, "e3", false, "u", []byte("2h ago"), ms-int64(2*time.Hour/time.Millisecond))
	s.Put("q", 2, "e3", false, "u", []byte("now"), ms)
	if msgs, _, reset := readAll(s, "q", 1, "e3", true, 10); reset || !slices.Equal(offsets(msgs), []uint64{2}) {
		t.Fatalf("after the TTL: %v reset %v", offsets(msgs), reset)
	}
}
