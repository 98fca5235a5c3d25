package hub

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"edgews/engine"
)

// collect runs f on every event loop (onLoops) and gathers what each
// returns. What loops return after ctx ended is dropped.
func collect[T any](ctx context.Context, h *Hub, f func(l *engine.Loop) []T) ([]T, error) {
	var mu sync.Mutex
	var out []T
	done := false
	err := h.onLoops(ctx, func(l *engine.Loop) {
		part := f(l)
		mu.Lock()
		if !done {
			out = append(out, part...)
		}
		mu.Unlock()
	})
	mu.Lock()
	done = true
	mu.Unlock()
	return out, err
}

// PresenceLocal lists room's members on this node, read on their loops:
// the connections in the room's delivery lists, sorted by name.
func (h *Hub) PresenceLocal(ctx context.Context, room string) ([]PresenceMember, error) {
	if h.roomInfo(room) == nil {
		return nil, nil // no member here: no need to ask the loops
	}
	ms, err := collect(ctx, h, func(l *engine.Loop) []PresenceMember {
		lr, _ := l.Local.(*loopRooms)
		if lr == nil || lr.rooms[room] == nil {
			return nil
		}
		r := lr.rooms[room]
		out := make([]PresenceMember, 0, len(r.text)+len(r.json))
		ids := make([]uint64, 0, cap(out))
		for _, list := range [...][]*Member{r.text, r.json} {
			for _, m := range list {
				out = append(out, PresenceMember{Name: m.name, User: m.sub(), Node: h.be.node})
				ids = append(ids, m.c.ID())
			}
		}
		h.be.opened.sinceAll(ids, func(i int, sec int64) { out[i].Since = sec * 1000 })
		return out
	})
	SortPresence(ms)
	return ms, err
}

// SortPresence sorts members by name, then node.
func SortPresence(ms []PresenceMember) {
	slices.SortFunc(ms, func(a, b PresenceMember) int {
		if c := compareFold(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Node, b.Node)
	})
}

// RoomsLocal lists the rooms with members on this node, with their
// counts here, sorted by name.
func (h *Hub) RoomsLocal() []RoomCount {
	var out []RoomCount
	for _, s := range h.rooms {
		s.mu.Lock()
		for name, ri := range s.rooms {
			out = append(out, RoomCount{Room: name, Count: len(ri.members)})
		}
		s.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b RoomCount) int { return strings.Compare(a.Room, b.Room) })
	return out
}

// HistoryLocal reads room's history on this node as a client gets it:
// q.Limit messages at most (0 or more than Config.History: Config.History).
func (h *Hub) HistoryLocal(q HistoryQuery) (HistoryPage, error) {
	page := HistoryPage{Room: q.Room, Messages: []StoredMessage{}}
	if h.hist == nil {
		return page, BadRequest("this node keeps no history (--history 0)")
	}
	limit := q.Limit
	if limit <= 0 || limit > h.cfg.History {
		limit = h.cfg.History
	}
	page.Epoch, page.Reset = h.hist.Read(q.Room, q.Since, q.Epoch, q.Resume, limit, func(hm *HistoryMessage) {
		ev := storedEvent(q.Room, hm)
		page.Messages = append(page.Messages, StoredMessage{Type: ev.typ, From: string(hm.From), Text: string(hm.Text), TS: hm.TS, Offset: hm.Offset, Epoch: hm.Epoch})
	})
	if page.Reset {
		h.stats.HistoryResets.Add(1)
	}
	return page, nil
}

// InfoLocal describes this node.
func (h *Hub) InfoLocal() NodeInfo {
	return NodeInfo{
		Node: h.be.node, Version: h.be.version, Uptime: time.Since(h.start).Seconds(),
		Connections: h.srv.OpenConns(), Users: h.users.Load(), Rooms: h.Rooms(),
	}
}

// compareFold compares two names ignoring ASCII case (names are ASCII),
// without allocating.
func compareFold(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return int(x) - int(y)
		}
	}
	return len(a) - len(b)
}
