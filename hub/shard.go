package hub

import (
	"hash/maphash"
	"strings"
	"sync"
)

// shard is one part of the name registry: uniqueness of names and lookups
// for whispers. It is touched on connects, renames, whispers and
// disconnects, never on the message path.
type shard struct {
	mu     sync.RWMutex
	byName map[string]nameEntry // by foldName
}

// nameEntry is a registered name. The registry keeps its own copy of the
// name as typed, so other loops never read Member.name.
type nameEntry struct {
	m    *Member
	name string
}

// foldName is a name's registry key: names that differ only in case clash,
// so "Alice" cannot pass for "alice".
func foldName(name string) string { return strings.ToLower(name) }

func (h *Hub) nameShard(key string) *shard {
	return h.names[maphash.String(h.seed, key)%uint64(len(h.names))]
}

// claim registers name for m; false if another member holds it (or a
// name differing only in case). Claiming a name m already holds, in any
// case, succeeds and records the new spelling. Safe from any goroutine.
func (h *Hub) claim(m *Member, name string) bool {
	key := foldName(name)
	s := h.nameShard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, taken := s.byName[key]; taken && e.m != m {
		return false
	}
	s.byName[key] = nameEntry{m: m, name: name}
	return true
}

// release unregisters name if m holds it. Safe from any goroutine.
func (h *Hub) release(m *Member, name string) {
	key := foldName(name)
	s := h.nameShard(key)
	s.mu.Lock()
	if s.byName[key].m == m {
		delete(s.byName, key)
	}
	s.mu.Unlock()
}

// lookup returns the member named name (in any case) and its name as it
// registered it, or nil. Safe from any goroutine.
func (h *Hub) lookup(name string) (*Member, string) {
	key := foldName(name)
	s := h.nameShard(key)
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.byName[key]
	return e.m, e.name
}
