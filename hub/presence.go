package hub

import (
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
)

// MaxRoster is the largest room whose member list is sent: with presence
// events, in the welcome, and as the answer to /users. Bigger rooms get
// their member count only, and do not announce connects and disconnects
// to JSON clients. Why: a list in each event costs O(members) per event,
// so O(members²) while a big room fills up, and listing a room holds its
// registry shard's lock for O(members).
const MaxRoster = 256

// roomInfo is one room's node-wide membership: who is in it, on every
// loop, for /users and presence events, and how many members read each
// format. members and seq are guarded by the room shard's mu; text and
// json are atomics, read without a lock by every broadcast so that it
// encodes only the formats somebody in the room reads.
type roomInfo struct {
	name    string
	members map[*Member]string // member -> name, as the registry spells it
	seq     uint64             // roster version (Hub.seq) of the last change
	text    atomic.Int32       // members reading text lines
	json    atomic.Int32       // members reading ProtocolJSON events

	// order serializes, with history on, the room's messages (offset
	// assigned, stored, posted to every loop) and its entries (history
	// read, the member's move posted): see recall.go.
	order sync.Mutex
}

// roomShard is one part of the room registry, by room-name hash. It is
// touched on connects, joins, leaves, renames and /users, never on the
// message path.
type roomShard struct {
	mu    sync.Mutex
	rooms map[string]*roomInfo // only rooms with members

	// holds counts, per room, the members on their way into it in a
	// cluster (holdRoom): while any is, the room stays subscribed even
	// with no member in it. Only rooms with holds have an entry.
	holds map[string]int32
}

func (h *Hub) roomShard(room string) *roomShard {
	return h.rooms[maphash.String(h.seed, room)%uint64(len(h.rooms))]
}

// enter puts m into room's node-wide membership and sets m.ri (the
// caller updates the loop's delivery list). created reports that the room
// had no members (it is new; the lobby is never new). In a cluster, m
// holds the room (holdRoom) and enter takes the hold over: m's membership
// keeps the subscription from here on. Loop only (m's).
func (h *Hub) enter(m *Member, room string) (created bool) {
	s := h.roomShard(room)
	s.mu.Lock()
	if h.cl != nil {
		s.unholdLocked(room)
	}
	ri := s.rooms[room]
	if ri == nil {
		ri = &roomInfo{name: room, members: make(map[*Member]string)}
		s.rooms[room] = ri
		created = room != Lobby
		if h.hist != nil {
			h.hist.Hold(room)
		}
		if h.cl != nil {
			h.cl.Subscribe(room) // in order with Unsubscribe: under s.mu
			if _, n := h.cl.Roster(room, nil); n > 0 {
				created = false // it has members on other nodes
			}
		}
	}
	ri.members[m] = m.name
	ri.seq = h.seq.Add(1)
	ri.count(m).Add(1)
	s.mu.Unlock()
	m.ri = ri
	return created
}

// exit takes m out of its room's node-wide membership (the caller
// updates the loop's delivery list); the room is dropped once empty. m.ri
// still names the room left. Loop only (m's).
func (h *Hub) exit(m *Member) {
	ri := m.ri
	s := h.roomShard(ri.name)
	s.mu.Lock()
	if _, ok := ri.members[m]; ok {
		delete(ri.members, m)
		ri.seq = h.seq.Add(1)
		ri.count(m).Add(-1)
		if len(ri.members) == 0 && s.rooms[ri.name] == ri {
			delete(s.rooms, ri.name)
			if h.hist != nil {
				h.hist.Release(ri.name) // its history stays until the TTL
			}
			if h.cl != nil && s.holds[ri.name] == 0 {
				h.cl.Unsubscribe(ri.name)
			}
		}
	}
	s.mu.Unlock()
}

// holdRoom keeps this node subscribed to room while m is on its way into
// it (its claim answered, the subscription not confirmed yet, or a /join
// waiting for it): the last member leaving meanwhile does not
// unsubscribe. So once Cluster.WhenSubscribed has said the subscription
// is live, it stays live until m is in the room, and m's welcome never
// comes before the server knows this node's interest again. enter takes
// the hold over; dropHold gives back one of a member that never got
// there.
func (h *Hub) holdRoom(room string) {
	s := h.roomShard(room)
	s.mu.Lock()
	if s.holds == nil {
		s.holds = make(map[string]int32)
	}
	s.holds[room]++
	h.cl.Subscribe(room) // in order with Unsubscribe: under s.mu
	s.mu.Unlock()
}

// dropHold gives back a hold on room of a member that never got there
// (closed while it waited), and unsubscribes if nobody else is in the
// room or on the way.
func (h *Hub) dropHold(room string) {
	s := h.roomShard(room)
	s.mu.Lock()
	s.unholdLocked(room)
	if s.rooms[room] == nil && s.holds[room] == 0 {
		h.cl.Unsubscribe(room)
	}
	s.mu.Unlock()
}

// unholdLocked takes one hold off room. Caller holds s.mu.
func (s *roomShard) unholdLocked(room string) {
	switch n := s.holds[room]; {
	case n > 1:
		s.holds[room] = n - 1
	case n == 1:
		delete(s.holds, room)
	}
}

// renameIn records m's new name in its room's membership. Loop only (m's).
func (h *Hub) renameIn(m *Member, name string) {
	s := h.roomShard(m.ri.name)
	s.mu.Lock()
	m.ri.members[m] = name
	m.ri.seq = h.seq.Add(1)
	s.mu.Unlock()
}

// roster returns the sorted names in ri (nil if there are more than
// MaxRoster), how many members it has, and the version they are at.
// Clients apply a member list only if its version is newer than the last
// one they applied: events from different loops may arrive out of order.
// Safe from any goroutine.
func (h *Hub) roster(ri *roomInfo) (names []string, count int, seq uint64) {
	s := h.roomShard(ri.name)
	s.mu.Lock()
	seq, count = ri.seq, len(ri.members)
	var remote []string
	if h.cl != nil {
		// The other nodes' members change without touching ri.seq: every
		// list with them in it is a new version.
		var n int
		remote, n = h.cl.Roster(ri.name, nil)
		count += n
		seq = h.seq.Add(1)
	}
	if count <= MaxRoster {
		names = make([]string, 0, count)
		for _, name := range ri.members {
			names = append(names, name)
		}
		names = append(names, remote...)
	}
	s.mu.Unlock()
	slices.Sort(names) // outside the lock
	return names, count, seq
}

// Rooms is the number of rooms with members, node-wide.
func (h *Hub) Rooms() int {
	n := 0
	for _, s := range h.rooms {
		s.mu.Lock()
		n += len(s.rooms)
		s.mu.Unlock()
	}
	return n
}

// count is the counter of m's format in ri.
func (ri *roomInfo) count(m *Member) *atomic.Int32 {
	if m.json {
		return &ri.json
	}
	return &ri.text
}

// roomInfo is room's node-wide membership, or nil if it has no member
// here. Safe from any goroutine.
func (h *Hub) roomInfo(room string) *roomInfo {
	s := h.roomShard(room)
	s.mu.Lock()
	ri := s.rooms[room]
	s.mu.Unlock()
	return ri
}
