package hub

import (
	"context"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"edgews/engine"
)

// BackendConfig connects the hub to the application's backend: the
// server API (Control) and the events sent out (Events). The zero value
// sends no events; the API works either way.
type BackendConfig struct {
	// NodeID names the node in events, presence and Info. If empty, the
	// Cluster's ID() if it has one (hub/cluster's node id), else the host
	// name and the process id.
	NodeID string
	// Version is the node's version, for Info.
	Version string
	// Events receives the node's events (messages, joins, connects, ...):
	// hub/webhook posts them to the application, hub/cluster publishes
	// them on NATS. If nil, none are made.
	Events EventSink
	// EventWhispers adds whispers to the events (they are private: off
	// unless asked for).
	EventWhispers bool
}

// backend is the hub's state for the application's backend: the bans
// and mutes in force, when connections opened, the events.
type backend struct {
	node     string
	version  string
	events   EventSink // nil: no events
	whispers bool

	mod   atomic.Pointer[modState] // nil: no ban, no mute (see moderation.go)
	modMu sync.Mutex               // serializes the writers of mod

	opened connClock
}

func (b *backend) init(cfg BackendConfig, cl Cluster) {
	b.node, b.version, b.events, b.whispers = cfg.NodeID, cfg.Version, cfg.Events, cfg.EventWhispers
	if id, ok := cl.(interface{ ID() string }); ok && b.node == "" {
		b.node = id.ID()
	}
	if b.node == "" {
		host, _ := os.Hostname()
		b.node = host + "-" + strconv.Itoa(os.Getpid())
	}
}

// NodeID is the node's name in events, presence and Info.
func (h *Hub) NodeID() string { return h.be.node }

// connClock tells when a connection opened, to the second, without a
// timestamp per connection (a Member has no room for one; see
// TestMemberSize): connection ids grow as connections are accepted, so it
// keeps the first id opened in each second that saw a connection, and a
// connection opened in the last second whose first id is not above its
// own. The log holds at most maxClockMarks seconds; when full, the older
// half is thinned to every other mark (those connections' times then
// read up to a second earlier per thinning).
type connClock struct {
	last atomic.Int64 // the second of the newest mark: one atomic load per connect when unchanged
	mu   sync.Mutex
	ids  []uint64 // the first connection id of each marked second, increasing
	secs []int64  // the seconds, Unix time
}

const maxClockMarks = 4096

// opened records that connection id opened at now (Unix seconds). Any
// goroutine.
func (c *connClock) opened(id uint64, now int64) {
	if c.last.Load() == now {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last.Load() == now {
		return
	}
	if n := len(c.ids); n > 0 && id < c.ids[n-1] {
		id = c.ids[n-1] // an earlier accept finishing its upgrade late
	}
	if len(c.ids) == maxClockMarks {
		k := 0
		for i := range c.ids {
			if i < maxClockMarks/2 && i%2 == 1 {
				continue // the older half keeps every other mark
			}
			c.ids[k], c.secs[k] = c.ids[i], c.secs[i]
			k++
		}
		c.ids, c.secs = c.ids[:k], c.secs[:k]
	}
	c.ids = append(c.ids, id)
	c.secs = append(c.secs, now)
	c.last.Store(now)
}

// since is when connection id opened, in Unix seconds (0 if unknown).
// mu held.
func (c *connClock) sinceLocked(id uint64) int64 {
	i, found := slices.BinarySearch(c.ids, id)
	if !found {
		i--
	}
	if i < 0 {
		return 0
	}
	return c.secs[i]
}

// sinceAll calls fn with the index and the opening time (Unix seconds, 0
// if unknown) of each of ids, under one lock.
func (c *connClock) sinceAll(ids []uint64, fn func(i int, sec int64)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, id := range ids {
		fn(i, c.sinceLocked(id))
	}
}

// onLoops runs f on every event loop, after what was posted to each
// before, and returns once every loop has run it, or ctx ends first (the
// loops still run it later: f must stay safe to call then). f runs on
// several loops at once.
func (h *Hub) onLoops(ctx context.Context, f func(l *engine.Loop)) error {
	loops := h.srv.Loops()
	if len(loops) == 0 {
		return nil
	}
	t := &loopsTask{f: f, done: make(chan struct{})}
	t.left.Store(int32(len(loops)))
	for _, l := range loops {
		_ = l.Post(t) // on error Post has called Done
	}
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// loopsTask is onLoops' task, one object posted to every loop.
type loopsTask struct {
	f    func(l *engine.Loop)
	left atomic.Int32
	done chan struct{}
}

func (t *loopsTask) Run(l *engine.Loop) { t.f(l) }

func (t *loopsTask) Done() {
	if t.left.Add(-1) == 0 {
		close(t.done)
	}
}
