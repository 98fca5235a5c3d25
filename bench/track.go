package bench

import "math/bits"

// Per-message tracking, on the receiving side. Every bench message carries
// its sender and sequence number; each receiver keeps, per sender, a
// seqWindow: which of that sender's recent sequence numbers it has had.
// That tells a first copy from a duplicate without a table of messages
// (8 bytes per receiver and sender, allocated when the load phase begins,
// nothing per message). First copies are counted per pair of URLs (the
// sender's and the receiver's), as expected there or not (extra);
// duplicates apart. What never came is found by the coordinator
// (accounting.go): the messages each receiver should have had, minus the
// first copies it counted. Nothing is netted: a duplicate never makes up
// for a loss.

// seqWindow is one stream's arrivals (one sender's messages at one
// receiver, or one echo connection's replies): next is one past the
// highest sequence number seen, bits the 32 before it (bit i is next-1-i).
type seqWindow struct{ next, bits uint32 }

// windowLen is how far behind the newest copy a first copy may still be
// told from a duplicate: a stream reordered further than that is counted as
// duplicated and in reorderedBeyond.
const windowLen = 32

// arrival classifies one copy.
type arrival uint8

const (
	firstCopy    arrival = iota
	duplicate            // this receiver had it already
	beyondWindow         // more than windowLen behind the newest: a duplicate, or a very late first copy
)

// add records sequence number q and classifies its copy.
func (w *seqWindow) add(q uint32) arrival {
	if q >= w.next {
		if shift := q - w.next + 1; shift >= windowLen {
			w.bits = 1
		} else {
			w.bits = w.bits<<shift | 1
		}
		w.next = q + 1
		return firstCopy
	}
	i := w.next - 1 - q
	switch {
	case i >= windowLen:
		return beyondWindow
	case w.bits&(1<<i) != 0:
		return duplicate
	}
	w.bits |= 1 << i
	return firstCopy
}

// pairCounts is what arrived from the senders on one URL at the receivers
// on one URL (Config.URLs indexes; one pair with one URL).
type pairCounts struct {
	// First counts first copies of messages expected there: broadcasts at
	// every user counted in the run (islands: on the sender's URL only),
	// whispers at their target.
	First int64 `json:"first"`
	// Whispers is the part of First that are whispers.
	Whispers int64 `json:"whispers,omitempty"`
	// Duplicated counts copies of a message the receiver already had.
	Duplicated int64 `json:"duplicated"`
	// Extra counts first copies of messages not expected there: a
	// broadcast from another island, a whisper to someone else, anything at
	// a user the run does not count.
	Extra int64 `json:"extra"`
}

func (p *pairCounts) add(o pairCounts) {
	p.First += o.First
	p.Whispers += o.Whispers
	p.Duplicated += o.Duplicated
	p.Extra += o.Extra
}

// leftUser is a user counted in the run whose connection closed during the
// load phase (or its drain): from cut on, nothing more is expected at it.
type leftUser struct {
	User int   `json:"user"`
	Node int   `json:"node"`
	Cut  int64 `json:"cut"` // clock.go nanoseconds: when it closed, or past the newest stamp it had
}

// whisperSent is one whisper a sender sent: expected once, at To.
type whisperSent struct {
	Sender int    `json:"sender"` // ordinal among the senders
	Seq    uint32 `json:"seq"`
	To     int    `json:"to"` // user index
}

// sender is the sending state of a broadcast sender, a chat talker, the
// attack-outbound sender or an open-loop echo connection: its timetable
// and, for the first three, which slots it sent (a slot it skipped, being
// too late, is counted but not sent) and to whom. It belongs to the loop of
// its connection.
type sender struct {
	k       int // ordinal among the senders (echo: the user index)
	tt      *timetable
	slots   uint32
	sent    []uint64 // bitmap by slot (broadcast, chat, attack-outbound)
	to      []int32  // chat with whispers: each slot's target user, -1 a broadcast
	skipped int64
	// replies counts messages not the bench's that the sender received
	// during the load phase: a server's refusals (a rate limit's error
	// line), among others (accounting.go).
	replies int64
}

// bitmap helpers: a []uint64 of n bits.
func newBitmap(n uint32) []uint64 { return make([]uint64, (uint64(n)+63)/64) }

func setBit(b []uint64, i uint32) { b[i/64] |= 1 << (i % 64) }

func hasBit(b []uint64, i uint32) bool { return i/64 < uint32(len(b)) && b[i/64]&(1<<(i%64)) != 0 }

// orInto ORs b into a, growing a to b's length.
func orInto(a, b []uint64) []uint64 {
	for len(a) < len(b) {
		a = append(a, 0)
	}
	for i, v := range b {
		a[i] |= v
	}
	return a
}

// countRange counts the bits set in b from bit lo (inclusive) to hi
// (exclusive) that are not set in not (nil: none excluded).
func countRange(b, not []uint64, lo, hi uint32) int64 {
	var n int64
	for i := lo; i < hi; {
		w := i / 64
		if int(w) >= len(b) {
			break
		}
		word := b[w]
		if int(w) < len(not) {
			word &^= not[w]
		}
		first := i % 64
		last := min(hi-w*64, 64) // exclusive, within the word
		mask := ^uint64(0) << first
		if last < 64 {
			mask &= 1<<last - 1
		}
		n += int64(bits.OnesCount64(word & mask))
		i = (w + 1) * 64
	}
	return n
}
