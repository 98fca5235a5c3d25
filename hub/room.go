package hub

import (
	"sync"

	"edgews/engine"
)

// loopRooms is the part of every room that lives on one event loop: the
// members whose connections that loop owns. Only that loop touches it, so
// delivering a broadcast takes no lock: the hub posts one task per loop and
// each loop walks its own members.
type loopRooms struct {
	rooms map[string]*localRoom
}

type localRoom struct {
	members []*Member
}

func roomsOf(l *engine.Loop) *loopRooms {
	lr, _ := l.Local.(*loopRooms)
	if lr == nil {
		lr = &loopRooms{rooms: make(map[string]*localRoom)}
		l.Local = lr
	}
	return lr
}

// join adds m to its room's member list on m's loop. Loop only.
func (lr *loopRooms) join(m *Member) {
	r := lr.rooms[m.room]
	if r == nil {
		r = &localRoom{}
		lr.rooms[m.room] = r
	}
	m.idx = len(r.members)
	r.members = append(r.members, m)
}

// leave removes m from its room's member list (swap-remove). Loop only.
func (lr *loopRooms) leave(m *Member) {
	r := lr.rooms[m.room]
	if r == nil || m.idx < 0 || m.idx >= len(r.members) || r.members[m.idx] != m {
		return
	}
	last := len(r.members) - 1
	r.members[m.idx] = r.members[last]
	r.members[m.idx].idx = m.idx
	r.members[last] = nil
	r.members = r.members[:last]
	m.idx = -1
	if len(r.members) == 0 {
		delete(lr.rooms, m.room)
	}
}

// roomTask delivers one shared frame to the members of a room on one loop.
type roomTask struct {
	f     *Frame
	room  string
	skip  *Member // not delivered to (nil: everyone)
	stats *Stats
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
	b := t.f.Bytes()
	n := 0
	for _, m := range r.members {
		if m != t.skip && m.c.WriteShared(b) == nil {
			n++
		}
	}
	t.stats.Deliveries.Add(int64(n))
	// A room with thousands of members on one loop is written here, once
	// per member, from one shared buffer; the loop's flush then issues one
	// writev per member for everything queued to it in this batch.
}

func (t *roomTask) Done() {
	t.f.release()
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
	if t.m.c.WriteShared(t.f.Bytes()) == nil {
		t.stats.Deliveries.Add(1)
	}
}

func (t *directTask) Done() {
	t.f.release()
	*t = directTask{}
	directTaskPool.Put(t)
}
