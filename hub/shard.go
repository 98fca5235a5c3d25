package hub

import (
	"hash/maphash"
	"slices"
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
//
// An entry is in the registry for as long as its holder is connected, so
// it is small: what only authenticated names have is behind auth, and an
// anonymous name costs 32 bytes a map slot instead of 64.
type nameEntry struct {
	m    *Member
	name string
	auth *nameAuth // nil when anonymous; replaced, never changed in place
}

// nameAuth is the authenticated part of a nameEntry.
type nameAuth struct {
	sub   string    // the holder's sub
	tabs  []*Member // more connections of sub sharing the name (two tabs); never changed in place
	owned bool      // the name is the holder's token's (not one it took with /nick)
}

func newNameEntry(m *Member, name, sub string, owned bool) nameEntry {
	e := nameEntry{m: m, name: name}
	if sub != "" {
		e.auth = &nameAuth{sub: sub, owned: owned}
	}
	return e
}

// sub is the authenticated holder's sub; "" when anonymous.
func (e *nameEntry) sub() string {
	if e.auth == nil {
		return ""
	}
	return e.auth.sub
}

// tabs are the other connections sharing the name; never changed in place.
func (e *nameEntry) tabs() []*Member {
	if e.auth == nil {
		return nil
	}
	return e.auth.tabs
}

// owned reports whether the holder holds the name as its token's name:
// an anonymous holder, or one that took it with /nick, gives it up to
// the token that names it (claimName's evict).
func (e *nameEntry) owned() bool { return e.auth != nil && e.auth.owned }

// setTabs replaces the tabs of an authenticated entry.
func (e *nameEntry) setTabs(tabs []*Member) {
	e.auth = &nameAuth{sub: e.auth.sub, tabs: tabs, owned: e.auth.owned}
}

// holds reports whether m is one of the entry's connections.
func (e *nameEntry) holds(m *Member) bool { return e.m == m || slices.Contains(e.tabs(), m) }

// foldName is a name's registry key: names that differ only in case clash,
// so "Alice" cannot pass for "alice".
func foldName(name string) string { return strings.ToLower(name) }

func (h *Hub) nameShard(key string) *shard {
	return h.names[maphash.String(h.seed, key)%uint64(len(h.names))]
}

// nameClaim is the answer to a claim of a name on this node.
type nameClaim uint8

const (
	nameGranted  nameClaim = iota
	nameHeld               // another member holds it
	nameReserved           // another user's token has it (nameHolds)
)

// claim registers name for m; false if another member holds it (or a
// name differing only in case), or if it is reserved for another user's
// token. Claiming a name m already holds, in any case, succeeds and
// records the new spelling. Safe from any goroutine.
func (h *Hub) claim(m *Member, name string) bool {
	res, _ := h.claimName(m, name, false)
	return res == nameGranted
}

// claimName is claim for members that may have a sub (loop only, m's),
// with the reason of a refusal: a name held by the same sub is shared
// (the same person on two tabs), and with evict an authenticated member
// takes its token's name from a holder that does not own it (anonymous,
// or another token holder that took it with /nick), whose connections
// are returned to be renamed (token names are reserved).
func (h *Hub) claimName(m *Member, name string, evict bool) (res nameClaim, evicted []*Member) {
	key := foldName(name)
	sub := m.sub()
	owned := m.id != nil && foldName(m.id.Name) == key
	s := h.nameShard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, taken := s.byName[key]
	switch {
	case !taken && !owned && h.reservedAgainst(key, sub):
		return nameReserved, nil
	case !taken:
		s.byName[key] = newNameEntry(m, name, sub, owned)
	case e.holds(m):
		e.name = name
		s.byName[key] = e
	case sub != "" && e.sub() == sub:
		e.setTabs(append(slices.Clip(e.tabs()), m))
		s.byName[key] = e
	case evict && owned && !e.owned():
		s.byName[key] = newNameEntry(m, name, sub, true)
		return nameGranted, append([]*Member{e.m}, e.tabs()...)
	default:
		return nameHeld, nil
	}
	return nameGranted, nil
}

// evictable returns the connections holding name without owning it
// (see claimName), to be renamed for its owner; nil if none. Safe from
// any goroutine.
func (h *Hub) evictable(name string) []*Member {
	key := foldName(name)
	s := h.nameShard(key)
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.byName[key]
	if e.m == nil || e.owned() {
		return nil
	}
	return append([]*Member{e.m}, e.tabs()...)
}

// release unregisters name if m holds it, and reports whether the name is
// free on this node now (m held it, and no other tab shares it): only
// then does a cluster release it. Safe from any goroutine.
func (h *Hub) release(m *Member, name string) (freed bool) {
	key := foldName(name)
	s := h.nameShard(key)
	s.mu.Lock()
	e := s.byName[key]
	switch {
	case e.m == m && len(e.tabs()) == 0:
		delete(s.byName, key)
		freed = true
	case e.m == m:
		tabs := e.tabs()
		e.m = tabs[0]
		e.setTabs(slices.Clone(tabs[1:]))
		s.byName[key] = e
	default:
		if i := slices.Index(e.tabs(), m); i >= 0 {
			e.setTabs(slices.Delete(slices.Clone(e.tabs()), i, i+1))
			s.byName[key] = e
		}
	}
	s.mu.Unlock()
	return freed
}

// lookupEntry returns the registry entry of name (in any case); its m is
// nil if nobody here holds it. The entry is a copy, and its auth is never
// changed in place: safe to read without the lock. Safe from any
// goroutine.
func (h *Hub) lookupEntry(name string) nameEntry {
	key := foldName(name)
	s := h.nameShard(key)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byName[key]
}

// lookup returns the member named name (in any case) and its name as it
// registered it, or nil, and the other connections sharing the name (an
// authenticated user's tabs; the slice is never changed in place). Safe
// from any goroutine.
func (h *Hub) lookup(name string) (*Member, string, []*Member) {
	e := h.lookupEntry(name)
	return e.m, e.name, e.tabs()
}
