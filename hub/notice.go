package hub

import (
	"time"
)

// Notice says text as the server in each of rooms (lower-case names): a
// notice, "*** TEXT" to text clients and
//
//	{"type":"notice","room":"games","text":"...","ts":1718000000000,"offset":43,"epoch":"9f2c41d0-3"}
//
// to JSON clients ("offset" and "epoch" with history on: a notice is kept
// in the room's history like a message, with an empty sender). It is a
// broadcast like any other: encoded once per format, shared by every
// member, compressed once; in a cluster it reaches the room's members on
// every node, as a message does. rooms and text must have been checked
// (CheckRoom, CheckText). Any goroutine.
func (h *Hub) Notice(rooms []string, text string) {
	b := []byte(text)
	for _, room := range rooms {
		h.notice(room, b)
	}
}

// notice says text in room.
func (h *Hub) notice(room string, text []byte) {
	h.stats.Notices.Add(1)
	ts := time.Now().UnixMilli()
	if h.seqr != nil { // delivered to every node once stored (ReceiveStored)
		h.seqr.Sequence(room, 0, "", text, ts)
		return
	}
	ev := event{typ: evNotice, room: room, text: text, ts: ts}
	h.share(&ev, false)
	h.broadcastStored(room, &ev)
}

// broadcastStored stores ev (a message, /me or notice) in room's history,
// if there is one, and broadcasts it to the room's members here, in the
// room's order. The room may have no member here (a notice).
func (h *Hub) broadcastStored(room string, ev *event) {
	if h.hist == nil {
		if ri := h.roomInfo(room); ri != nil {
			tf, jf := ev.frames(ri)
			h.broadcast(room, tf, jf, nil)
		}
		return
	}
	h.inOrder(room, func(ri *roomInfo) {
		// Owner 0: the application's notices are not bounded by a
		// sender's share of the history.
		if ev.offset, ev.epoch = h.hist.Append(room, 0, ev.flags(), ev.from, ev.text, ev.ts); ev.offset == 0 {
			ev.epoch = "" // not kept: delivered without a place in the history
		}
		if ri != nil {
			tf, jf := ev.frames(ri)
			h.broadcast(room, tf, jf, nil)
		}
	})
}
