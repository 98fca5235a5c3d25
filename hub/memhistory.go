package hub

import (
	"crypto/rand"
	"encoding/hex"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// MemoryHistoryConfig configures a MemoryHistory.
type MemoryHistoryConfig struct {
	// PerRoom is how many messages each room keeps. Must be positive.
	PerRoom int
	// TTL is how long a message is kept. If zero, DefaultHistoryTTL.
	TTL time.Duration
	// MaxBytes bounds the memory of all stored messages, node-wide
	// (entries and their buffers, as counted by Bytes); over it the oldest
	// messages, whatever their room, are dropped first. If zero,
	// DefaultHistoryMaxBytes.
	MaxBytes int64
	// RoomMaxBytes bounds, counted the same way, one room's messages
	// (over it the room's oldest go first) and one owner's (Append's
	// owner: a connection, whose messages over it are not kept), so that
	// MaxBytes is shared: one client talking in many rooms cannot flush
	// the others' history. If zero, MaxBytes/HistoryShares.
	RoomMaxBytes int64
	// Now is the clock of the TTL. If nil, time.Now; tests set their own.
	Now func() time.Time
	// Mirror makes the store a copy of a cluster's history, written with
	// Put: a room has no epoch ("") until its first message brings one.
	Mirror bool
}

// MemoryHistory is the single node's History: every room's messages in
// memory, bounded per room (PerRoom and RoomMaxBytes), per owner
// (RoomMaxBytes), in age (TTL) and node-wide in bytes (MaxBytes). A node
// restart loses it, and with it every room's epoch.
//
// A message counts the larger of its buffer and its size as JSON (the
// name and text escaped, as events carry them): a line of control
// characters, six times longer in JSON than in memory, costs what it
// costs to send.
//
// Every stored message is one pooled entry on two intrusive lists: its
// room's (oldest first, for reads and the per-room cap) and the node's
// (oldest first, for the TTL and the byte cap), so storing and evicting
// cost O(1) whatever the number of rooms. Why lists and not a ring of
// PerRoom slots per room: a room with three messages then holds three
// entries, not PerRoom slots, and the byte cap counts all there is.
// Evicted entries keep their buffers on free lists by size class, so a
// store in steady state allocates nothing per message.
//
// It is safe for concurrent use; every method takes one mutex briefly.
type MemoryHistory struct {
	perRoom  int
	ttl      int64 // nanoseconds
	maxBytes int64
	roomMax  int64 // RoomMaxBytes
	now      func() time.Time
	boot     string // epoch prefix: random per store, so per node run
	mirror   bool

	mu         sync.Mutex
	rooms      map[string]*memRoom
	owners     map[uint64]*memOwner // owners with messages stored
	head, tail *memEntry            // every entry, oldest first
	bytes      int64
	count      int
	gen        uint64                    // rooms created, for epochs
	free       [numSizeClasses]*memEntry // evicted entries, by buffer size class
	nfree      int
}

// memRoom is one room's history.
type memRoom struct {
	name       string
	epoch      string
	next       uint64    // offset of the next message
	low        uint64    // the newest offset dropped by the caps, the TTL or a new start (not by a delete): every message after it is held
	head, tail *memEntry // the room's entries, oldest first
	n          int
	holds      int
	bytes      int64 // the entries' cost
}

// memOwner counts what one owner's stored messages cost.
type memOwner struct {
	id    uint64
	bytes int64
}

// memEntry is one stored message: the sender's name then the text in buf.
type memEntry struct {
	prev, next *memEntry // the node's list (next also links the free lists)
	rnext      *memEntry // the room's list
	room       *memRoom
	owner      *memOwner // nil: none
	off        uint64
	at         int64 // clock nanoseconds when stored, for the TTL
	ts         int64
	cost       int32 // what the entry counts against the caps: see entryCost
	from       uint8 // names are at most 32 bytes
	flags      MessageFlags
	buf        []byte
}

// Buffers come in size classes of two per doubling (32, 48, 64, 96, ...
// 8 KiB), so a buffer wastes at most a third of itself (a sixth on
// average) against half with powers of two; larger ones (texts over the
// default MaxLine) are not kept on free lists.
const (
	numSizeClasses = 17 // 32 B to 8 KiB
	maxFree        = 1 << 14
)

// entryOverhead is what one entry costs beside its buffer (or its JSON
// size, see entryCost), as Bytes counts it; roomOverhead likewise for a
// room.
const (
	entryOverhead = int64(unsafe.Sizeof(memEntry{}))
	roomOverhead  = int64(unsafe.Sizeof(memRoom{})) + 64 // plus its map slot, name and epoch
)

// NewMemoryHistory returns an empty store.
func NewMemoryHistory(cfg MemoryHistoryConfig) *MemoryHistory {
	if cfg.PerRoom <= 0 {
		panic("hub: MemoryHistoryConfig.PerRoom must be positive")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultHistoryTTL
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultHistoryMaxBytes
	}
	if cfg.RoomMaxBytes <= 0 {
		cfg.RoomMaxBytes = cfg.MaxBytes / HistoryShares
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var r [4]byte
	_, _ = rand.Read(r[:]) // never fails (crypto/rand panics instead)
	return &MemoryHistory{
		perRoom: cfg.PerRoom, ttl: int64(cfg.TTL), maxBytes: cfg.MaxBytes, roomMax: min(cfg.RoomMaxBytes, cfg.MaxBytes), now: cfg.Now,
		boot: hex.EncodeToString(r[:]), rooms: make(map[string]*memRoom), owners: make(map[uint64]*memOwner), mirror: cfg.Mirror,
	}
}

// roomLocked returns room's history, creating it (with a new epoch) if
// the store has none.
func (s *MemoryHistory) roomLocked(room string) *memRoom {
	r := s.rooms[room]
	if r == nil {
		s.gen++
		r = &memRoom{name: room, next: 1}
		if !s.mirror {
			r.epoch = s.boot + "-" + strconv.FormatUint(s.gen, 36)
		}
		s.rooms[room] = r
		s.bytes += roomOverhead + int64(len(room))
	}
	return r
}

// forgetLocked drops room's history if nothing keeps it.
func (s *MemoryHistory) forgetLocked(r *memRoom) {
	if r.n == 0 && r.holds == 0 {
		delete(s.rooms, r.name)
		s.bytes -= roomOverhead + int64(len(r.name))
	}
}

// Hold implements History.
func (s *MemoryHistory) Hold(room string) {
	s.mu.Lock()
	s.roomLocked(room).holds++
	s.mu.Unlock()
}

// Release implements History.
func (s *MemoryHistory) Release(room string) {
	s.mu.Lock()
	if r := s.rooms[room]; r != nil && r.holds > 0 {
		r.holds--
		s.forgetLocked(r)
	}
	s.mu.Unlock()
}

// Append implements History: a message whose owner (if not 0) would
// hold more than RoomMaxBytes with it, or that alone costs more, is not
// kept (offset 0).
func (s *MemoryHistory) Append(room string, owner uint64, flags MessageFlags, from string, text []byte, ts int64) (uint64, string) {
	now := s.now().UnixNano()
	cost := entryCost(from, text)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now)
	r := s.roomLocked(room)
	var o *memOwner
	if owner != 0 {
		if o = s.owners[owner]; o == nil {
			o = &memOwner{id: owner}
		}
	}
	if cost > s.roomMax || o != nil && o.bytes+cost > s.roomMax {
		return 0, r.epoch
	}
	if o != nil && o.bytes == 0 {
		s.owners[owner] = o
	}
	off := r.next
	s.appendLocked(r, o, cost, now, flags, from, text, ts)
	return off, r.epoch
}

// entryCost is what a message counts against the caps: its entry, and
// the larger of its buffer (from and text in a size class) and its name
// and text as JSON strings (see jsonLen).
func entryCost(from string, text []byte) int64 {
	n := len(from) + len(text)
	buf := n
	if c := sizeClass(n); c >= 0 {
		buf = classSize(c)
	}
	return entryOverhead + int64(max(buf, jsonLen(from)+jsonLen(text)))
}

// Put stores a message whose offset and epoch were given elsewhere (a
// cluster's history, which this store mirrors). A new epoch, or an offset
// at or before the room's last one, drops what the room held: its history
// starts again there. An offset past the next one keeps it: the messages
// between were deleted (a cluster's stream loses messages only at a
// room's oldest end, or by a delete). Its age for the TTL is ts (when it
// was said), not when it arrived.
func (s *MemoryHistory) Put(room string, offset uint64, epoch string, flags MessageFlags, from string, text []byte, ts int64) {
	at := ts * int64(time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(s.now().UnixNano())
	r := s.roomLocked(room)
	if r.epoch != epoch || offset < r.next {
		r.holds++ // kept while emptied
		for r.head != nil {
			s.dropLocked(r.head)
		}
		r.holds--
		if r.epoch != epoch {
			r.epoch = strings.Clone(epoch)
		}
		r.low = offset - 1
	}
	r.next = offset
	s.appendLocked(r, nil, entryCost(from, text), at, flags, from, text, ts)
}

// appendLocked stores a message of owner o (nil: none) at r's next
// offset, stored at clock time at, and enforces the caps.
func (s *MemoryHistory) appendLocked(r *memRoom, o *memOwner, cost int64, at int64, flags MessageFlags, from string, text []byte, ts int64) {
	e := s.getLocked(len(from) + len(text))
	e.buf = append(append(e.buf[:0], from...), text...)
	e.room, e.owner, e.off, e.at, e.ts, e.from, e.flags = r, o, r.next, at, ts, uint8(len(from)), flags
	e.cost = int32(min(cost, math.MaxInt32))
	r.next++
	// Link at the tails: the room's and the node's lists stay in age order.
	if r.tail == nil {
		r.head = e
	} else {
		r.tail.rnext = e
	}
	r.tail = e
	r.n++
	e.prev = s.tail
	if s.tail == nil {
		s.head = e
	} else {
		s.tail.next = e
	}
	s.tail = e
	s.count++
	s.bytes += int64(e.cost)
	r.bytes += int64(e.cost)
	if o != nil {
		o.bytes += int64(e.cost)
	}
	if r.n > s.perRoom {
		s.dropLocked(r.head)
	}
	for r.bytes > s.roomMax && r.head != e {
		s.dropLocked(r.head)
	}
	for s.bytes > s.maxBytes && s.head != nil {
		s.dropLocked(s.head)
	}
}

// expireLocked drops the messages older than the TTL: the oldest first,
// from the head of the node's list.
func (s *MemoryHistory) expireLocked(now int64) {
	for s.head != nil && now-s.head.at >= s.ttl {
		s.dropLocked(s.head)
	}
}

// dropLocked unlinks e, which is the oldest entry of its room, and frees
// it. Its room is forgotten if nothing else keeps it.
func (s *MemoryHistory) dropLocked(e *memEntry) {
	r := e.room
	r.head = e.rnext
	if r.head == nil {
		r.tail = nil
	}
	r.low = e.off
	s.unlinkLocked(e)
}

// unlinkLocked takes e, out of its room's list already, out of the node's
// list and frees it. Its room is forgotten if nothing else keeps it.
func (s *MemoryHistory) unlinkLocked(e *memEntry) {
	r := e.room
	r.n--
	if e.prev == nil {
		s.head = e.next
	} else {
		e.prev.next = e.next
	}
	if e.next == nil {
		s.tail = e.prev
	} else {
		e.next.prev = e.prev
	}
	s.count--
	s.bytes -= int64(e.cost)
	r.bytes -= int64(e.cost)
	if o := e.owner; o != nil {
		if o.bytes -= int64(e.cost); o.bytes == 0 {
			delete(s.owners, o.id)
		}
	}
	s.forgetLocked(r)
	s.putLocked(e)
}

// sizeClass is the free list of buffers that hold n bytes: of capacity
// classSize(c); -1 for sizes over the largest class.
func sizeClass(n int) int {
	if n <= 32 {
		return 0
	}
	k := bits.Len(uint(n - 1)) // 1<<(k-1) < n <= 1<<k
	c := 2 * (k - 5)
	if n <= 3<<(k-2) {
		c-- // the class between, 3/4 of 1<<k
	}
	if c >= numSizeClasses {
		return -1
	}
	return c
}

// classSize is the capacity of the buffers of class c: 32, 48, 64, 96, ...
func classSize(c int) int {
	if c%2 == 1 {
		return 48 << (c / 2)
	}
	return 32 << (c / 2)
}

// getLocked and putLocked pool entries with their buffers, by size class:
// getLocked returns an entry whose buffer holds n bytes.
func (s *MemoryHistory) getLocked(n int) *memEntry {
	c := sizeClass(n)
	if c < 0 {
		return &memEntry{buf: make([]byte, 0, n)}
	}
	if e := s.free[c]; e != nil {
		s.free[c] = e.next
		s.nfree--
		e.next = nil
		return e
	}
	return &memEntry{buf: make([]byte, 0, classSize(c))}
}

func (s *MemoryHistory) putLocked(e *memEntry) {
	c := sizeClass(cap(e.buf))
	*e = memEntry{buf: e.buf[:0]}
	if c < 0 || cap(e.buf) != classSize(c) || s.nfree >= maxFree {
		return // left to the garbage collector
	}
	e.next = s.free[c]
	s.free[c] = e
	s.nfree++
}

// Read implements History.
func (s *MemoryHistory) Read(room string, since uint64, epoch string, resume bool, max int, fn func(*HistoryMessage)) (string, bool) {
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now)
	r := s.rooms[room]
	if r == nil {
		return "", resume
	}
	reset := false
	if resume {
		// Deleted messages leave gaps in the offsets: count what is held
		// after since, and whether anything after it was dropped.
		after := 0
		for e := r.head; e != nil; e = e.rnext {
			if e.off > since {
				after++
			}
		}
		reset = epoch != r.epoch || since > r.next-1 || since < r.low || after > max
	}
	skip := r.n - max // the newest max
	m := HistoryMessage{Epoch: r.epoch}
	for e := r.head; e != nil; e = e.rnext {
		if resume && !reset {
			if e.off <= since {
				continue
			}
		} else if skip > 0 {
			skip--
			continue
		}
		m.Offset, m.Me, m.Verified, m.TS = e.off, e.flags&MessageMe != 0, e.flags&MessageVerified != 0, e.ts
		m.From, m.Text = e.buf[:e.from], e.buf[e.from:]
		fn(&m)
	}
	return r.epoch, reset
}

// Len is the number of stored messages (expired ones are dropped first).
func (s *MemoryHistory) Len() int {
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now)
	return s.count
}

// Bytes is the memory the store counts against MaxBytes: every entry with
// its buffer, and every room (expired messages are dropped first). Metrics
// read it, so a quiet node's history still shrinks with the TTL.
func (s *MemoryHistory) Bytes() int64 {
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now)
	return s.bytes
}
