package hub

import (
	"container/list"
	"hash/maphash"
	"math"
	"sync"
	"time"
)

// Token names are reserved beyond their holders' connections (auth on).
//
// The registry (shard.go) reserves a name while someone holds it. A token
// holder's name is also reserved while nobody does: each name a token
// connected with (its name claim, else its sub) is recorded here with its
// sub, when the token could still be valid (its exp plus the leeway) and
// when its reservation against anonymous users ends (Config.AuthNameHold
// after the token's last use: its connect, refresh or disconnect).
// Then another sub's /nick is refused the name while the token could be
// valid, and an anonymous user (--auth optional) is refused it, by
// ?name= or /nick, for the hold.
//
// The table is this node's: in a cluster a name reserved here is not on
// the other nodes (the cluster's registry reserves it cluster-wide only
// while someone holds it). It is bounded: past Config.AuthNameHolds names
// the least recently used goes, and expired ones go as new ones come.

// Defaults of the name reservation settings of Config.
const (
	DefaultAuthNameHold  = 24 * time.Hour
	DefaultAuthNameHolds = 100_000 // names, about 100 bytes each
)

// nameHolds is the table of names tokens have used. Safe for concurrent
// use; it takes its own lock, after a registry shard's when both are
// taken.
type nameHolds struct {
	hold time.Duration // negative: no reservation against anonymous users after a disconnect
	max  int
	seed maphash.Seed

	mu     sync.Mutex
	byName map[string]*list.Element // by foldName; each a *nameHold in byUse
	byUse  list.List                // least recently used first
}

// nameHold is one reserved name. The sub is kept as a hash: a sub can be
// as long as a token allows, and it is only compared.
type nameHold struct {
	key   string
	sub   uint64 // maphash of the sub
	valid int64  // Unix ns: until then the token could be valid (exp + leeway)
	held  int64  // Unix ns: until then anonymous users are refused the name
}

func newNameHolds(hold time.Duration, max int) *nameHolds {
	if hold == 0 {
		hold = DefaultAuthNameHold
	}
	if max <= 0 {
		max = DefaultAuthNameHolds
	}
	return &nameHolds{hold: hold, max: max, seed: maphash.MakeSeed(), byName: make(map[string]*list.Element)}
}

// record notes that a token of sub, expiring at exp (Unix ns; 0: never),
// used name at now (Unix ns), with leeway the verifier's clock skew. A
// token without exp counts as valid for the hold after its last use.
func (t *nameHolds) record(name, sub string, exp, now int64, leeway time.Duration) {
	key := foldName(name)
	held := now
	if t.hold > 0 {
		held = addNano(now, int64(t.hold))
	}
	valid := held
	if exp != 0 {
		valid = addNano(exp, int64(leeway))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	el := t.byName[key]
	if el == nil {
		el = t.byUse.PushBack(&nameHold{key: key})
		t.byName[key] = el
	} else {
		t.byUse.MoveToBack(el)
	}
	r := el.Value.(*nameHold)
	r.sub, r.valid, r.held = maphash.String(t.seed, sub), valid, held
	// Bounded: the least recently used over max go, and so do the
	// oldest while they have expired (each name is dropped once: the
	// cost is that of its record).
	for old := t.byUse.Front(); old != el; old = t.byUse.Front() {
		if o := old.Value.(*nameHold); len(t.byName) <= t.max && !o.expired(now) {
			break
		}
		delete(t.byName, t.byUse.Remove(old).(*nameHold).key)
	}
}

// against reports whether name is reserved against sub ("": an anonymous
// user) at now: another sub's token could still be valid, or, for an
// anonymous user, it was used within the hold.
func (t *nameHolds) against(key, sub string, now int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	el := t.byName[key]
	if el == nil {
		return false
	}
	r := el.Value.(*nameHold)
	switch {
	case sub == "":
		return now < r.held
	}
	return r.sub != maphash.String(t.seed, sub) && now < r.valid
}

// Len is the number of names in the table.
func (t *nameHolds) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byName)
}

func (r *nameHold) expired(now int64) bool { return now >= r.valid && now >= r.held }

// addNano is a + b, saturated at the largest int64 (an exp clamped to it
// plus the leeway stays "never").
func addNano(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// recordName records m's token name in the table (auth on, m
// authenticated). Loop only (m's).
func (h *Hub) recordName(m *Member) {
	if h.holds == nil || m.id == nil {
		return
	}
	v := h.cfg.Auth
	h.holds.record(m.id.Name, m.id.Subject, m.id.Expires, v.Now().UnixNano(), v.Leeway())
}

// reservedAgainst reports whether the name keyed key is reserved for
// another sub than sub ("": anonymous). Safe from any goroutine.
func (h *Hub) reservedAgainst(key, sub string) bool {
	return h.holds != nil && h.holds.against(key, sub, h.cfg.Auth.Now().UnixNano())
}
