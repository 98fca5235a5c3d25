package hub

import (
	"slices"
	"strconv"
	"sync"
	"unsafe"

	"edgews/codec"
)

// How history meets the live messages (history on, Config.History > 0).
//
// A room's messages reach each loop as tasks posted to it, and a member
// receives the ones that run after its move into the room's delivery list
// on its loop (moveTask). So the order of a room is decided where its
// tasks are posted: under the room's order lock, a message gets its
// offset, is stored and is posted to every loop, and an entering member's
// move is posted and its history read. Every message is then either in
// that history (posted before the move: it runs while the member is not
// in the list yet) or delivered live (posted after), never both, and
// every loop sees the room's messages in offset order. The lock is taken
// once per message, not per delivery; without history none of this runs.

// DefaultHistoryLines is how many messages /history shows when not told.
const DefaultHistoryLines = 10

// resume is where a member asks to resume a room: after offset since of
// epoch. The zero value asks for no resume (the newest messages).
type resume struct {
	since uint64
	epoch string
	ok    bool
}

// resumeOf reads a resume from a join command or a connect query: it
// asks for one when either field is given. bad reports a since that is
// not a number.
func resumeOf(since, epoch string) (rs resume, bad bool) {
	if since == "" && epoch == "" {
		return rs, false
	}
	rs.ok, rs.epoch = true, epoch
	if since != "" {
		n, err := strconv.ParseUint(since, 10, 64)
		if err != nil {
			return resume{}, true
		}
		rs.since = n
	}
	return rs, false
}

// sayStored is say's broadcast with history on: offset and store, then
// post, in one critical section of the room's order. owner is the
// sender's share of the history (History.Append); limit is fanout's.
func (h *Hub) sayStored(ri *roomInfo, ev *event, owner uint64, limit int) bool {
	ri.order.Lock()
	ev.offset, ev.epoch = h.hist.Append(ri.name, owner, ev.flags(), ev.from, ev.text, ev.ts)
	if ev.offset == 0 {
		ev.epoch = "" // not kept: delivered without a place in the history
	}
	tf, jf := ev.frames(ri)
	ok := h.fanout(ri.name, tf, jf, nil, limit)
	ri.order.Unlock()
	return ok
}

// moveIn posts m's move into the delivery list of its room (m.ri, which
// enter has set) and, to a JSON member, the room's history from rs, in
// one critical section of the room's order; between the two, announce
// (if not nil) tells the room that m joined. Loop only (m's).
func (h *Hub) moveIn(m *Member, rs resume, announce func()) {
	ri := m.ri
	if h.hist == nil {
		_ = m.c.Loop().Post(&moveTask{m: m, to: ri.name})
		if announce != nil {
			announce()
		}
		return
	}
	ri.order.Lock()
	_ = m.c.Loop().Post(&moveTask{m: m, to: ri.name})
	if announce != nil {
		announce()
	}
	if m.json {
		h.sendTo(m, h.historyFrame(ri.name, rs, h.cfg.History))
	}
	ri.order.Unlock()
}

// storedEvent is the live event of a stored message.
func storedEvent(room string, hm *HistoryMessage) event {
	typ := evMessage
	switch {
	case hm.Me:
		typ = evMe
	case len(hm.From) == 0: // names are never empty: a notice (the server's)
		typ = evNotice
	}
	// The name is only read while encoding, during the Read callback that
	// owns the bytes: a string view instead of a copy per message.
	from := unsafe.String(unsafe.SliceData(hm.From), len(hm.From))
	return event{typ: typ, room: room, from: from, text: hm.Text, ts: hm.TS, offset: hm.Offset, epoch: hm.Epoch, verified: hm.Verified}
}

// flags are the MessageFlags of a message or me event.
func (ev *event) flags() MessageFlags {
	var f MessageFlags
	if ev.typ == evMe {
		f |= MessageMe
	}
	if ev.verified {
		f |= MessageVerified
	}
	return f
}

// historyFrame encodes room's history event: at most max messages, from
// rs, within the hub's history budget (see readHistory; the oldest left
// out say "truncated":true). Its messages are the same objects as the
// live message and me events:
//
//	{"type":"history","room":"games","epoch":"9f2c41d0-3","messages":[{"type":"message",...,"offset":41,"epoch":"9f2c41d0-3"}],"truncated":true,"reset":true}
func (h *Hub) historyFrame(room string, rs resume, max int) *Frame {
	sc, epoch, reset := h.readHistory(room, rs, max, true)
	msgs := sc.kept()
	if len(msgs) > 0 {
		msgs = msgs[1:] // the comma before the first
	}
	f := beginFrame()
	// One allocation of the right size at most, not a doubling series:
	// a history of 50 messages is some 10 KiB.
	b := slices.Grow(f.buf.B, len(room)+len(epoch)+len(msgs)+historyEnvelope)
	b = appendJSONString(append(b, `{"type":"history","room":`...), room)
	b = append(append(append(appendField(b, "epoch", epoch), `,"messages":[`...), msgs...), ']')
	if sc.left() > 0 {
		b = append(b, `,"truncated":true`...)
	}
	if reset {
		b = append(b, `,"reset":true`...)
		h.stats.HistoryResets.Add(1)
	}
	f.buf.B = append(b, '}')
	sc.release()
	return f.finish(codec.OpText)
}

// historyEnvelope bounds what a history event holds beside its room,
// epoch and messages.
const historyEnvelope = 96

// readHistory reads at most max of room's messages from rs and encodes
// them, as JSON objects (each after a comma) or as text lines, into a
// pooled scratch, which the caller releases. It keeps the newest that
// fit in the hub's history budget (Hub.histBudget): a room of long lines,
// or of lines that escaping makes six times longer, gives the newest of
// them, and the reader is told how many older ones were left out.
func (h *Hub) readHistory(room string, rs resume, max int, json bool) (sc *histScratch, epoch string, reset bool) {
	sc = historyScratch.Get().(*histScratch)
	budget := h.histBudget
	if json {
		budget -= len(room) + historyEnvelope + 64 // and the epoch's, of a few dozen bytes
	}
	epoch, reset = h.hist.Read(room, rs.since, rs.epoch, rs.ok, max, func(hm *HistoryMessage) {
		ev := storedEvent(room, hm)
		sc.at = append(sc.at, len(sc.b))
		if json {
			sc.b = ev.appendJSON(append(sc.b, ','))
		} else {
			sc.b = ev.appendText(sc.b)
		}
		sc.trim(budget)
	})
	return sc, epoch, reset
}

// histScratch holds the encoded messages of one history read, apart from
// the broadcast frames' pool, whose size classes they would skew.
type histScratch struct {
	b       []byte
	at      []int // where each message starts in b
	first   int   // the first kept message (an index into at)
	dropped int   // messages left out and taken out of b
}

// historyScratch holds histScratches; larger buffers than
// maxHistoryScratch (very long messages) are left to the garbage
// collector.
var historyScratch = sync.Pool{New: func() any { return &histScratch{b: make([]byte, 0, 16<<10)} }}

const maxHistoryScratch = 256 << 10

// trim leaves out the oldest messages while the kept ones take more than
// budget bytes. The bytes of those left out are reclaimed once they are
// more than the budget, so that b holds at most about twice the budget
// and one message, however long the history.
func (sc *histScratch) trim(budget int) {
	for sc.first < len(sc.at) && len(sc.b)-sc.at[sc.first] > budget {
		sc.first++
	}
	dead := len(sc.b)
	if sc.first < len(sc.at) {
		dead = sc.at[sc.first]
	}
	if dead <= budget {
		return
	}
	sc.b = sc.b[:copy(sc.b, sc.b[dead:])]
	n := copy(sc.at, sc.at[sc.first:])
	sc.at = sc.at[:n]
	for i := range sc.at {
		sc.at[i] -= dead
	}
	sc.dropped += sc.first
	sc.first = 0
}

// kept is the encoding of the messages kept, one after the other.
func (sc *histScratch) kept() []byte {
	if sc.first == len(sc.at) {
		return nil
	}
	return sc.b[sc.at[sc.first]:]
}

// line is the i-th kept message's encoding (i from 0).
func (sc *histScratch) line(i int) []byte {
	i += sc.first
	end := len(sc.b)
	if i+1 < len(sc.at) {
		end = sc.at[i+1]
	}
	return sc.b[sc.at[i]:end]
}

// lines is how many messages were kept; left how many were left out.
func (sc *histScratch) lines() int { return len(sc.at) - sc.first }
func (sc *histScratch) left() int  { return sc.dropped + sc.first }

// release returns sc to its pool.
func (sc *histScratch) release() {
	if cap(sc.b) > maxHistoryScratch {
		return
	}
	sc.b, sc.at, sc.first, sc.dropped = sc.b[:0], sc.at[:0], 0, 0
	historyScratch.Put(sc)
}

// showHistory answers /history [n]: the last n messages of m's room (at
// most Config.History, within the history budget), as text lines between
// a header and a footer, or as a history event to a JSON client.
func (h *Hub) showHistory(m *Member, arg string) {
	n := DefaultHistoryLines
	if arg != "" {
		v, err := strconv.Atoi(arg)
		if err != nil || v <= 0 {
			h.replyError(m, errUsage, "usage: /history [N] (N a positive number)")
			return
		}
		n = v
	}
	if h.hist == nil {
		h.replyError(m, errNoHistory, "this node keeps no history")
		return
	}
	n = min(n, h.cfg.History)
	room := m.ri.name
	if m.json {
		h.sendTo(m, h.historyFrame(room, resume{}, n))
		return
	}
	sc, _, _ := h.readHistory(room, resume{}, n, false)
	h.sendTo(m, lineFrame("*** history of "+room+":"))
	if k := sc.left(); k > 0 {
		h.sendTo(m, lineFrame("*** "+strconv.Itoa(k)+" older messages left out: too long to send at once"))
	}
	for i := range sc.lines() {
		h.sendTo(m, lineFrame(sc.line(i)))
	}
	sc.release()
	h.sendTo(m, lineFrame("*** end of history"))
}

// lineFrame encodes a server line to a text client.
func lineFrame[T string | []byte](s T) *Frame {
	f := beginFrame()
	f.buf.B = append(f.buf.B, s...)
	return f.finish(codec.OpText)
}
