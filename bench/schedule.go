package bench

import (
	"math/rand/v2"
	"sort"
)

// Timetables. Every message the bench sends on a schedule has a slot, the
// time it is due as an offset from the start of the load phase, and is
// stamped with that time, not with when it actually left: a client that
// falls behind shows in the latency instead of hiding in it. A sender's
// slots are its sequence numbers (broadcast, chat, attack-outbound), and
// every process computes the same timetables from the config and the run's
// seed: a receiver knows how many slots each sender has (a sequence number
// past them is none of the bench's), the coordinator when each slot was due
// (what a receiver that left still expected, accounting.go).
//
//	broadcast        sender k of S at R msg/s in total: slot q at k/R + q·S/R
//	attack-outbound  the one sender at R lines/s: q/R, at most Lines slots
//	echo --rate R    connection i of C: i/R + q·C/R (R/C msg/s each)
//	chat             talker k: Poisson arrivals at TalkRate, the gaps drawn
//	                 from its own source seeded with (seed, k)
//
// The slots are those due before Duration.

// timetable walks one sender's slots in order. Not safe for concurrent
// use; it belongs to the sender's loop.
type timetable struct {
	q              uint32 // the slot at hand
	at             int64  // its offset from the start of the load phase, ns
	offset, period int64  // evenly spaced: slot q at offset + q*period
	rate           float64
	rng            *rand.Rand // Poisson (period 0): the sender's own draws
}

// timetableOf returns sender k's timetable at its first slot (for echo, k
// is the connection's user index).
func (c *Config) timetableOf(seed uint64, k int) *timetable {
	t := &timetable{}
	switch c.Scenario {
	case Chat:
		t.rate = c.TalkRate
		t.rng = rand.New(rand.NewPCG(seed, uint64(k)))
		t.at = t.gap()
		return t
	case Broadcast:
		t.offset, t.period = evenly(k, c.Senders, c.Rate)
	case Echo:
		t.offset, t.period = evenly(k, c.Conns, c.Rate)
	default: // AttackOutbound
		t.offset, t.period = evenly(0, 1, c.Rate)
	}
	t.at = t.offset
	return t
}

// evenly is the offset and period of sender k of n that send rate
// messages per second together, evenly spread over one period so that the
// server sees a steady rate rather than bursts.
func evenly(k, n int, rate float64) (offset, period int64) {
	return int64(float64(k) / rate * 1e9), max(1, int64(float64(n)/rate*1e9))
}

// advance moves to the next slot.
func (t *timetable) advance() {
	t.q++
	if t.period > 0 {
		t.at = t.offset + int64(t.q)*t.period
		return
	}
	t.at += t.gap()
}

// gap draws the time to a talker's next slot: exponential, so that the
// talkers together make Poisson arrivals.
func (t *timetable) gap() int64 { return int64(t.rng.ExpFloat64() / t.rate * 1e9) }

// slotTimes answers when a sender's slots were due, for the receivers (how
// many there are) and the coordinator (how many fell before a time).
type slotTimes struct {
	n              uint32 // slots before Duration
	offset, period int64  // evenly spaced
	at             []int64
}

// slotsOf returns sender k's slots. With keep, a Poisson timetable keeps
// every slot's offset (8 bytes a slot) for before; without, only the count.
func (c *Config) slotsOf(seed uint64, k int, keep bool) slotTimes {
	end := int64(c.Duration)
	t := c.timetableOf(seed, k)
	if t.period > 0 {
		s := slotTimes{offset: t.offset, period: t.period}
		if t.offset < end {
			s.n = uint32(min((end-t.offset-1)/t.period+1, int64(maxSlots)))
		}
		if c.Scenario == AttackOutbound {
			s.n = min(s.n, uint32(c.Lines))
		}
		return s
	}
	var s slotTimes
	for ; t.at < end && s.n < maxSlots; t.advance() {
		if keep {
			s.at = append(s.at, t.at)
		}
		s.n++
	}
	return s
}

// maxSlots bounds one sender's slots: sequence numbers are 32 bits, and a
// message a slot is more than any run sends.
const maxSlots = 1<<32 - 2

// before is how many slots are due before offset x.
func (s *slotTimes) before(x int64) uint32 {
	if s.period == 0 {
		return uint32(sort.Search(len(s.at), func(i int) bool { return s.at[i] >= x }))
	}
	if x <= s.offset {
		return 0
	}
	return uint32(min(int64(s.n), (x-s.offset-1)/s.period+1))
}

// due is slot q's offset.
func (s *slotTimes) due(q uint32) int64 {
	if s.period == 0 {
		return s.at[q]
	}
	return s.offset + int64(q)*s.period
}
