package hub

import (
	"strconv"
	"sync"
	"time"
)

// Events for the application's backend (BackendConfig.Events): what
// happened on the node, one JSON object each, for storage and moderation
// tools. The node where a thing happens makes its event (a message's is
// made by the node it was said on), so that every node of a cluster may
// send its events to the same receiver and each event arrives once.
//
//	{"type":"message","ts":1718000000000,"node":"n1","room":"lobby","from":"bob","text":"hi","offset":42,"epoch":"9f2c41d0-3","verified":true}
//	{"type":"me",...}                       the same fields, for a /me action
//	{"type":"whisper","ts":...,"node":"n1","from":"bob","to":"alice","text":"psst"}   (BackendConfig.EventWhispers)
//	{"type":"join","ts":...,"node":"n1","room":"games","name":"bob","user":"u-42"}    and "leave"
//	{"type":"nick","ts":...,"node":"n1","room":"games","name":"bobby","old":"bob","user":"u-42"}
//	{"type":"connect","ts":...,"node":"n1","room":"lobby","name":"bob","user":"u-42","ip":"10.0.0.7"}   and "disconnect"
//
// "user" (a token's sub) is there for authenticated users only; "offset"
// and "epoch" with history on; "verified" for a message of a token holder. A user's first room comes with its
// connect (no join), its last with its disconnect (no leave).

// Event kinds: the "type" of an event.
const (
	EventMessage    = "message"
	EventMe         = "me"
	EventWhisper    = "whisper"
	EventJoin       = "join"
	EventLeave      = "leave"
	EventNick       = "nick"
	EventConnect    = "connect"
	EventDisconnect = "disconnect"
)

// EventSink receives the node's events. kind is the event's type, room
// its room ("" for a whisper), obj the event as a JSON object: valid
// during the call only, the sink copies what it keeps. Event is called on
// the event loops (and the cluster's goroutines), concurrently: it must
// be safe for that and return at once (queue, never wait; a full queue is
// the sink's to count and drop).
type EventSink interface {
	Event(kind, room string, obj []byte)
}

// EventSinks sends every event to each of its sinks, in order.
type EventSinks []EventSink

// Event implements EventSink.
func (s EventSinks) Event(kind, room string, obj []byte) {
	for _, sink := range s {
		sink.Event(kind, room, obj)
	}
}

// eventBufs holds the buffers events are encoded into: one event is
// encoded once, whatever the sinks, and nothing is allocated for it.
var eventBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// emit encodes ev as an event of kind, with user and ip (if set), and
// hands it to the sinks. Nothing without sinks.
func (h *Hub) emit(kind string, ev *event, user string, m *Member) {
	sink := h.be.events
	if sink == nil {
		return
	}
	bp := eventBufs.Get().(*[]byte)
	b := append((*bp)[:0], `{"type":`...)
	b = appendJSONString(b, kind)
	ts := ev.ts
	if ts == 0 {
		ts = time.Now().UnixMilli()
	}
	b = strconv.AppendInt(append(b, `,"ts":`...), ts, 10)
	b = appendField(b, "node", h.be.node)
	b = appendField(b, "room", ev.room)
	b = appendField(b, "from", ev.from)
	b = appendField(b, "to", ev.to)
	b = appendField(b, "name", ev.name)
	b = appendField(b, "old", ev.old)
	b = appendField(b, "user", user)
	if m != nil {
		if a := m.c.RemoteAddr().Addr(); a.IsValid() {
			b = append(a.Unmap().AppendTo(append(b, `,"ip":"`...)), '"') // an address needs no escape
		}
	}
	if ev.text != nil {
		b = appendJSONString(append(b, `,"text":`...), ev.text)
	}
	if ev.offset != 0 {
		b = strconv.AppendUint(append(b, `,"offset":`...), ev.offset, 10)
		b = appendField(b, "epoch", ev.epoch)
	}
	if ev.verified {
		b = append(b, `,"verified":true`...)
	}
	b = append(b, '}')
	sink.Event(kind, ev.room, b)
	if cap(b) <= 64<<10 {
		*bp = b
		eventBufs.Put(bp)
	}
}

// emitSaid makes the event of a message or /me said on this node (its
// offset and epoch set, with history on).
func (h *Hub) emitSaid(ev *event) {
	if h.be.events != nil {
		h.emit(ev.typ, ev, "", nil)
	}
}

// emitMember makes a member's event: join, leave, nick (old set), connect
// (with its IP address) or disconnect. room is the room it concerns.
func (h *Hub) emitMember(kind string, m *Member, room, old string) {
	if h.be.events == nil {
		return
	}
	ev := event{room: room, name: m.name, old: old}
	var ipOf *Member
	if kind == EventConnect || kind == EventDisconnect {
		ipOf = m
	}
	h.emit(kind, &ev, m.sub(), ipOf)
}

// emitWhisper makes a whisper's event, if whispers are asked for.
func (h *Hub) emitWhisper(ev *event) {
	if h.be.events != nil && h.be.whispers {
		h.emit(EventWhisper, ev, "", nil)
	}
}

// StoredHere is called by a Sequencer once a message said on this node
// is stored (its offset and epoch known): the node makes the message's
// event then, as the node it was said on. from and text are valid during
// the call only.
func (h *Hub) StoredHere(room string, offset uint64, epoch string, flags MessageFlags, from string, text []byte, ts int64) {
	if h.be.events == nil || from == "" { // a notice: no event
		return
	}
	typ := evMessage
	if flags&MessageMe != 0 {
		typ = evMe
	}
	ev := event{typ: typ, room: room, from: from, text: text, ts: ts, offset: offset, epoch: epoch, verified: flags&MessageVerified != 0}
	h.emitSaid(&ev)
}
