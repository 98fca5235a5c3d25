package bench

import "fmt"

// The coordinator's half of the per-message accounting (track.go has the
// receivers'). From the merged results it knows, per sender, which
// sequence numbers arrived anywhere, which were sent, which were whispers
// and to whom, and which counted users left, and when. A broadcast is
// accepted unless the server evidently refused it:
//
//	arrived anywhere (its sender's own copy counts): accepted
//	arrived nowhere, but a later one of its sender did: refused (a server
//	    relays a sender's messages in order, so it went past this one)
//	arrived nowhere, nor did any later one of its sender: refused as far
//	    as the sender got replies that were not the bench's (a rate limit's
//	    error line) beyond the refusals above; otherwise accepted, and lost
//	    wherever it did not arrive (a server still holding it at the end of
//	    the drain, or one that dropped the sender's last messages)
//
// What each pair of URLs should have delivered then follows, message by
// message:
//
//	broadcast q of sender k (on URL i), accepted: once at every user
//	    counted on URL j (every j of a cluster; j = i for islands), but not
//	    at a user that left before q was due
//	whisper q of sender k to user T: once at T, unless T left before q was due
//
// Lost is that minus the first copies the receivers counted as expected:
// the receivers count a first copy as expected exactly where this expects
// it (a user that left received nothing due after its cut), so the
// difference is the set of messages that never came, not a balance in
// which a duplicate could make up for a loss.

// accounting is the outcome, per pair of URLs and in total.
type accounting struct {
	pairs []pairTotals // [from*len(URLs)+to]
	// accepted is, per URL, its senders' broadcasts that arrived somewhere.
	accepted []int64
	// refused: broadcasts sent that arrived nowhere, refused (see above);
	// undelivered: those that arrived nowhere but count as accepted (lost);
	// forged: sequence numbers that arrived but their sender never sent (a
	// server that invents messages); their copies count as first copies.
	refused, undelivered, forged int64
	// whispers sent, expected at their targets, first copies there.
	whispersSent, whispersExpected, whispersFirst int64
}

// pairTotals is one pair of URLs' counts and what was expected there.
type pairTotals struct {
	pairCounts
	expected, lost int64
}

// account computes the broadcast and chat accounting of merged results m.
// start is the start of the load phase (clock.go ns), seed the run's.
func account(cfg *Config, seed uint64, m *workerResult, start int64) *accounting {
	n := len(cfg.URLs)
	a := &accounting{pairs: make([]pairTotals, n*n), accepted: make([]int64, n)}
	for i := range a.pairs {
		if i < len(m.Pairs) {
			a.pairs[i].pairCounts = m.Pairs[i]
		}
	}
	senders := cfg.sendersOf()
	times := make(map[int]*slotTimes)
	slotsOf := func(k int) *slotTimes {
		if st := times[k]; st != nil {
			return st
		}
		st := cfg.slotsOf(seed, k, len(m.Left) > 0)
		times[k] = &st
		return &st
	}
	valid := func(ws whisperSent) bool {
		return ws.Sender >= 0 && ws.Sender < senders && ws.Seq < slotsOf(ws.Sender).n
	}
	whispers := make([][]uint64, senders)
	for _, ws := range m.Whispers {
		if valid(ws) {
			if whispers[ws.Sender] == nil {
				whispers[ws.Sender] = newBitmap(slotsOf(ws.Sender).n)
			}
			setBit(whispers[ws.Sender], ws.Seq)
		}
	}
	cuts := make(map[int]int64, len(m.Left))
	for _, u := range m.Left {
		cuts[u.User] = u.Cut - start
	}
	allowed := func(i, j int) bool { return !cfg.Islands || i == j }
	for k := range senders {
		st := slotsOf(k)
		i := cfg.NodeOf(cfg.senderUser(k))
		seen, sent, wb := at(m.Seen, k), at(m.SentSlots, k), whispers[k]
		accB := a.acceptedOf(st.n, seen, sent, wb, at(m.Replies, k))
		acc := countRange(accB, nil, 0, st.n)
		a.accepted[i] += acc
		a.forged += countRange(seen, sent, 0, st.n)
		for j := range n {
			if allowed(i, j) {
				a.pairs[i*n+j].expected += int64(at(m.OpenN, j)) * acc
			}
		}
		for _, u := range m.Left {
			if allowed(i, u.Node) && u.Node < n {
				// Nothing due from the cut on was expected at u.
				a.pairs[i*n+u.Node].expected -= countRange(accB, nil, st.before(u.Cut-start), st.n)
			}
		}
	}
	for _, ws := range m.Whispers {
		a.whispersSent++
		if !valid(ws) {
			continue
		}
		if cut, left := cuts[ws.To]; left && slotsOf(ws.Sender).due(ws.Seq) >= cut {
			continue // its target had gone
		}
		i, j := cfg.NodeOf(cfg.senderUser(ws.Sender)), cfg.NodeOf(ws.To)
		a.pairs[i*n+j].expected++
		a.whispersExpected++
	}
	for i := range a.pairs {
		p := &a.pairs[i]
		p.lost = p.expected - p.First
		a.whispersFirst += p.Whispers
	}
	return a
}

// acceptedOf returns the bitmap of a sender's accepted broadcasts (see
// above) among its n slots: seen and sent bitmaps, its whispers, and the
// replies it got that were not the bench's. It counts the refused and the
// undelivered.
func (a *accounting) acceptedOf(n uint32, seen, sent, whispers []uint64, replies int64) []uint64 {
	acc := newBitmap(n)
	last := -1 // the newest sequence number that arrived anywhere
	for q := range n {
		if hasBit(seen, q) {
			last = int(q)
			if !hasBit(whispers, q) {
				setBit(acc, q)
			}
		}
	}
	var skippedBy int64 // refusals the server went past
	var trailing []uint32
	for q := range n {
		if !hasBit(sent, q) || hasBit(seen, q) || hasBit(whispers, q) {
			continue
		}
		if int(q) < last {
			skippedBy++
		} else {
			trailing = append(trailing, q)
		}
	}
	refusedTrailing := min(int64(len(trailing)), max(0, replies-skippedBy))
	for _, q := range trailing[refusedTrailing:] {
		setBit(acc, q)
	}
	a.refused += skippedBy + refusedTrailing
	a.undelivered += int64(len(trailing)) - refusedTrailing
	return acc
}

// inconsistent reports a pair where more first copies were counted than
// expected, which the accounting rules out; it would be a bug in the
// bench, and the report says so rather than hide it.
func (a *accounting) inconsistent(urls []string) string {
	n := len(urls)
	for i, p := range a.pairs {
		if p.lost < 0 {
			return fmt.Sprintf("bench: accounting error: %d first copies from %s at %s, %d expected",
				p.First, urls[i/n], urls[i%n], p.expected)
		}
	}
	return ""
}

// senderUser is the user index of sender ordinal k (the inverse of
// senderIndex; attack-outbound's sender is the last user).
func (c *Config) senderUser(k int) int {
	if c.Scenario == AttackOutbound {
		return c.users() - 1
	}
	s := c.sendersOf()
	// The smallest i with (i+1)*s/Conns > k.
	return ((k+1)*c.Conns+s-1)/s - 1
}
