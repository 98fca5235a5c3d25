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
// post, in one critical section of the room's order.
func (h *Hub) sayStored(ri *roomInfo, ev *event) {
	ri.order.Lock()
	ev.offset, ev.epoch = h.hist.Append(ri.name, ev.typ == evMe, ev.from, ev.text, ev.ts)
	tf, jf := ev.frames(ri)
	h.broadcast(ri.name, tf, jf, nil)
	ri.order.Unlock()
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
	if hm.Me {
		typ = evMe
	}
	// The name is only read while encoding, during the Read callback that
	// owns the bytes: a string view instead of a copy per message.
	from := unsafe.String(unsafe.SliceData(hm.From), len(hm.From))
	return event{typ: typ, room: room, from: from, text: hm.Text, ts: hm.TS, offset: hm.Offset, epoch: hm.Epoch}
}

// historyFrame encodes room's history event: at most max messages, from
// rs. Its messages are the same objects as the live message and me
// events:
//
//	{"type":"history","room":"games","epoch":"9f2c41d0-3","messages":[{"type":"message",...,"offset":41,"epoch":"9f2c41d0-3"}],"reset":true}
func (h *Hub) historyFrame(room string, rs resume, max int) *Frame {
	sp := historyScratch.Get().(*[]byte)
	msgs := (*sp)[:0]
	epoch, reset := h.hist.Read(room, rs.since, rs.epoch, rs.ok, max, func(hm *HistoryMessage) {
		if len(msgs) > 0 {
			msgs = append(msgs, ',')
		}
		ev := storedEvent(room, hm)
		msgs = ev.appendJSON(msgs)
	})
	f := beginFrame()
	// One allocation of the right size at most, not a doubling series:
	// a history of 50 messages is some 10 KiB.
	b := slices.Grow(f.buf.B, len(room)+len(epoch)+len(msgs)+80)
	b = appendJSONString(append(b, `{"type":"history","room":`...), room)
	b = append(append(append(appendField(b, "epoch", epoch), `,"messages":[`...), msgs...), ']')
	if reset {
		b = append(b, `,"reset":true`...)
		h.stats.HistoryResets.Add(1)
	}
	f.buf.B = append(b, '}')
	if cap(msgs) <= maxHistoryScratch {
		*sp = msgs
		historyScratch.Put(sp)
	}
	return f.finish(codec.OpText)
}

// historyScratch holds the buffers history messages are encoded into
// before their event is assembled: apart from the broadcast frames' pool,
// whose size classes they would skew. Larger ones than maxHistoryScratch
// (very long messages) are left to the garbage collector.
var historyScratch = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

const maxHistoryScratch = 256 << 10

// showHistory answers /history [n]: the last n messages of m's room (at
// most Config.History), as text lines between a header and a footer, or
// as a history event to a JSON client.
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
	h.sendTo(m, lineFrame("*** history of "+room+":"))
	h.hist.Read(room, 0, "", false, n, func(hm *HistoryMessage) {
		ev := storedEvent(room, hm)
		h.sendTo(m, ev.frame(false))
	})
	h.sendTo(m, lineFrame("*** end of history"))
}

// lineFrame encodes a server line to a text client.
func lineFrame(s string) *Frame {
	f := beginFrame()
	f.buf.B = append(f.buf.B, s...)
	return f.finish(codec.OpText)
}
