package hub

import (
	"errors"
	"sync"

	"edgews/codec"
	"edgews/engine"
)

// loopRooms is the part of every room that lives on one event loop: the
// members whose connections that loop owns. Only that loop touches it, so
// delivering a broadcast takes no lock: the hub posts one task per loop and
// each loop walks its own members.
type loopRooms struct {
	rooms map[string]*localRoom

	// scratch holds the unescaped JSON strings of the command being
	// handled on this loop: a loop handles one message at a time, so one
	// buffer serves all its members instead of one per member.
	scratch []byte

	// joining holds this loop's members whose move waits for the
	// cluster's subscription to their new room (moveSubscribed).
	joining map[*Member]struct{}

	// tokens holds this loop's authenticated connections (chat and
	// /echo), which the expiry sweep walks (Hub.sweepExpired, trackToken).
	tokens []*engine.Conn
}

// localRoom keeps text and JSON members apart, so that a broadcast carries
// one shared frame per format and each list is written from its own frame
// without a per-member branch.
type localRoom struct {
	name string
	text []*Member
	json []*Member
}

func roomsOf(l *engine.Loop) *loopRooms {
	lr, _ := l.Local.(*loopRooms)
	if lr == nil {
		lr = &loopRooms{rooms: make(map[string]*localRoom)}
		l.Local = lr
	}
	return lr
}

// list is the member list of m's format in r.
func (r *localRoom) list(m *Member) *[]*Member {
	if m.json {
		return &r.json
	}
	return &r.text
}

// join adds m to room's member list on m's loop; m must not be in one.
// Loop only.
func (lr *loopRooms) join(m *Member, room string) {
	r := lr.rooms[room]
	if r == nil {
		r = &localRoom{name: room}
		lr.rooms[room] = r
	}
	l := r.list(m)
	m.local, m.idx = r, int32(len(*l))
	*l = append(*l, m)
}

// leave removes m from the member list it is in, if any (swap-remove).
// Loop only.
func (lr *loopRooms) leave(m *Member) {
	r := m.local
	if r == nil {
		return
	}
	l := r.list(m)
	ms := *l
	if m.idx < 0 || int(m.idx) >= len(ms) || ms[m.idx] != m {
		return
	}
	last := len(ms) - 1
	ms[m.idx] = ms[last]
	ms[m.idx].idx = m.idx
	ms[last] = nil
	*l = ms[:last]
	if len(r.text) == 0 && len(r.json) == 0 && lr.rooms[r.name] == r {
		delete(lr.rooms, r.name)
	}
	m.local, m.idx = nil, -1
}

// broadcast delivers tf to the text members and jf to the JSON members of
// room, on every loop, except skip. A nil frame means no member of that
// format is sent anything. It takes over the caller's references.
func (h *Hub) broadcast(room string, tf, jf *Frame, skip *Member) { h.fanout(room, tf, jf, skip, 0) }

// fanout is broadcast; with limit > 0, a loop with limit tasks waiting
// already is skipped (engine.Loop.PostLimit): a message from another node
// is dropped where the loop is behind, not queued without bound. It
// reports whether every loop took it.
func (h *Hub) fanout(room string, tf, jf *Frame, skip *Member, limit int) bool {
	if tf == nil && jf == nil {
		return true
	}
	loops := h.srv.Loops()
	h.stats.Broadcasts.Add(1)
	h.compress(tf) // once per format, shared by every member that takes it
	h.compress(jf)
	if tf != nil {
		tf.refs.Store(int32(len(loops)))
	}
	if jf != nil {
		jf.refs.Store(int32(len(loops)))
	}
	all := true
	for _, l := range loops {
		t := roomTaskPool.Get().(*roomTask)
		t.tf, t.jf, t.room, t.skip, t.stats = tf, jf, room, skip, &h.stats
		// On error Post has already called t.Done.
		if err := l.PostLimit(t, limit); errors.Is(err, engine.ErrLoopBehind) {
			all = false
		}
	}
	return all
}

// sendTo delivers f to one member, on its loop, after what was posted to
// it before. Replies go this way too, not through Conn.Send, so that a
// sender's broadcasts and replies arrive in the order it caused them. It
// takes over the caller's reference to f.
func (h *Hub) sendTo(m *Member, f *Frame) { h.sendToLimit(m, f, 0) }

// sendToLimit is sendTo with fanout's limit: false if m's loop was behind
// (f dropped).
func (h *Hub) sendToLimit(m *Member, f *Frame, limit int) bool {
	f.refs.Store(1)
	h.compressFor(m, f)
	t := directTaskPool.Get().(*directTask)
	t.f, t.m, t.stats = f, m, &h.stats
	return !errors.Is(m.c.Loop().PostLimit(t, limit), engine.ErrLoopBehind)
}

// roomTask delivers a broadcast's shared frames to the members of a room
// on one loop.
type roomTask struct {
	tf, jf *Frame // text and JSON encodings; nil: not sent
	room   string
	skip   *Member // not delivered to (nil: everyone)
	stats  *Stats
}

var roomTaskPool = sync.Pool{New: func() any { return new(roomTask) }}

func (t *roomTask) Run(l *engine.Loop) {
	lr, _ := l.Local.(*loopRooms)
	if lr == nil {
		return
	}
	r := lr.rooms[t.room]
	if r == nil {
		return
	}
	n := deliver(r.text, t.tf, t.skip) + deliver(r.json, t.jf, t.skip)
	t.stats.Deliveries.Add(int64(n))
	// A room with thousands of members on one loop is written here, once
	// per member, from one shared buffer; the loop's flush then issues one
	// writev per member for everything queued to it in this batch.
}

// deliver writes f to members (but skip) and counts the writes.
func deliver(members []*Member, f *Frame, skip *Member) int {
	if f == nil {
		return 0
	}
	b := f.Bytes()
	n := 0
	if f.zbuf != nil {
		// Compressed twin: each member is written the encoding it takes.
		for _, m := range members {
			if m != skip && m.c.WriteShared(f.bytesFor(m.c)) == nil {
				n++
			}
		}
		return n
	}
	for _, m := range members {
		if m != skip && m.c.WriteShared(b) == nil {
			n++
		}
	}
	return n
}

func (t *roomTask) Done() {
	if t.tf != nil {
		t.tf.release()
	}
	if t.jf != nil {
		t.jf.release()
	}
	*t = roomTask{}
	roomTaskPool.Put(t)
}

// directTask delivers one shared frame to one member, on its loop.
type directTask struct {
	f     *Frame
	m     *Member
	stats *Stats
}

var directTaskPool = sync.Pool{New: func() any { return new(directTask) }}

func (t *directTask) Run(*engine.Loop) {
	if t.m.c.WriteShared(t.f.bytesFor(t.m.c)) == nil {
		t.stats.Deliveries.Add(1)
	}
}

func (t *directTask) Done() {
	t.f.release()
	*t = directTask{}
	directTaskPool.Put(t)
}

// moveTask moves a member to another room's delivery list on its loop,
// after the tasks posted to the loop before it: the member's earlier
// broadcasts to the room it left still reach it there.
type moveTask struct {
	m  *Member
	to string
}

func (t *moveTask) Run(l *engine.Loop) {
	if !t.m.c.Open() {
		return // closing: OnClose takes it out of whichever list it is in
	}
	lr := roomsOf(l)
	lr.leave(t.m)
	lr.join(t.m, t.to)
}

func (t *moveTask) Done() {}

// closeTask closes a connection on its loop, after the tasks posted to it
// before (the error lines that explain the close).
type closeTask struct {
	c      *engine.Conn
	code   codec.StatusCode
	reason string
}

func (t *closeTask) Run(*engine.Loop) { t.c.Close(t.code, t.reason) }
func (t *closeTask) Done()            {}
