// Package hub holds the chat node's rooms, members and names, and delivers
// broadcasts encoded once into pooled buffers shared by all recipients.
//
// Sharding. Delivery lists are sharded by event loop: each loop keeps the
// members it owns, per room, and only that loop touches them, so delivering
// a message takes no lock. A broadcast encodes the frame once, posts one task
// per loop, and each loop writes the shared bytes to its members. The name
// registry (uniqueness, lookups for private messages, user counts) is split
// into Config.Shards shards by name hash, each with its own lock, touched on
// joins, renames and lookups, never on the message path.
//
// Usage:
//
//	srv := engine.New(engine.Config{})
//	h := hub.New(srv, hub.Config{Shards: 16}) // registers /echo and /chat
//	err := srv.Run()
package hub

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	"edgews/engine"
)

// DefaultShards is the registry shard count when Config.Shards is zero.
const DefaultShards = 16

// Config configures a Hub.
type Config struct {
	// Shards is the number of name-registry shards. If zero, DefaultShards.
	Shards int
}

// Hub is the chat node's shared state.
type Hub struct {
	srv    *engine.Server
	shards []*shard
	seed   maphash.Seed

	users    atomic.Int64  // connected chat users, all loops
	nextName atomic.Uint64 // user0, user1, ...
	stats    Stats
}

// Stats are the hub's counters. They are atomics updated once per loop
// task, not per delivery, so counting costs nothing on the message path;
// metrics exporters read them.
type Stats struct {
	Broadcasts atomic.Int64 // messages fanned out (room or whole chat)
	Deliveries atomic.Int64 // frames queued to recipients
}

// shard is one part of the name registry.
type shard struct {
	mu     sync.RWMutex
	byName map[string]*Member
}

// Member is a chat user. Its fields are owned by its connection's loop.
type Member struct {
	c    *engine.Conn
	name string
	room string
	idx  int // position in the loop-local room list, -1 when not in one
}

// New creates a Hub and registers its routes (/echo and /chat) on srv.
func New(srv *engine.Server, cfg Config) *Hub {
	if cfg.Shards <= 0 {
		cfg.Shards = DefaultShards
	}
	h := &Hub{srv: srv, seed: maphash.MakeSeed()}
	h.shards = make([]*shard, cfg.Shards)
	for i := range h.shards {
		h.shards[i] = &shard{byName: make(map[string]*Member)}
	}
	srv.Handle("/echo", Echo{})
	srv.Handle("/chat", &chat{h: h})
	return h
}

// Stats returns the hub's live counters.
func (h *Hub) Stats() *Stats { return &h.stats }

// Users is the number of connected chat users.
func (h *Hub) Users() int64 { return h.users.Load() }

func (h *Hub) shardOf(name string) *shard {
	return h.shards[maphash.String(h.seed, name)%uint64(len(h.shards))]
}

// register claims m's name; false if it is taken.
func (h *Hub) register(m *Member) bool {
	s := h.shardOf(m.name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.byName[m.name]; taken {
		return false
	}
	s.byName[m.name] = m
	return true
}

func (h *Hub) unregister(m *Member) {
	s := h.shardOf(m.name)
	s.mu.Lock()
	if s.byName[m.name] == m {
		delete(s.byName, m.name)
	}
	s.mu.Unlock()
}

// lookup returns the member named name, or nil.
func (h *Hub) lookup(name string) *Member {
	s := h.shardOf(name)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byName[name]
}

// broadcast delivers f to every member of room, on every loop, except skip.
// It takes over the caller's reference to f.
func (h *Hub) broadcast(room string, f *Frame, skip *Member) {
	loops := h.srv.Loops()
	h.stats.Broadcasts.Add(1)
	f.refs.Store(int32(len(loops)))
	for _, l := range loops {
		t := roomTaskPool.Get().(*roomTask)
		t.f, t.room, t.skip, t.stats = f, room, skip, &h.stats
		_ = l.Post(t) // on error Post has already called t.Done
	}
}

// sendTo delivers f to one member, on its loop. It takes over the caller's
// reference to f.
func (h *Hub) sendTo(m *Member, f *Frame) {
	f.refs.Store(1)
	t := directTaskPool.Get().(*directTask)
	t.f, t.m, t.stats = f, m, &h.stats
	_ = m.c.Loop().Post(t)
}
