package cluster

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"edgews/hub"
	"github.com/nats-io/nats.go/jetstream"
)

// view is this node's picture of the other nodes' users, kept from a
// watch of the names bucket: counts, rosters and whisper look-ups read it
// without a network call.
type view struct {
	self string

	mu      sync.RWMutex
	entries map[string]entry             // key -> the other nodes' users
	rooms   map[string]map[string]string // room -> key -> name
	mine    map[string]uint64            // key -> revision: names under this node's id, while a watch replays them (nil after: purgeMine)
	users   atomic.Int64                 // len(entries)
}

type entry struct {
	node, room, name string
	rev              uint64
}

// init empties the view, for a watch that replays every name: this
// node's own are collected until the replay is done (purgeMine).
func (v *view) init(self string) {
	v.self = self
	v.entries = make(map[string]entry)
	v.rooms = make(map[string]map[string]string)
	v.mine = make(map[string]uint64)
}

// put records a watched value. Caller holds mu.
func (v *view) putLocked(key string, val []byte, rev uint64) {
	v.delLocked(key)
	if string(owner(val)) == v.self {
		if v.mine != nil {
			v.mine[key] = rev
		}
		return // this node's own users are not kept (nor copied)
	}
	node, room, name := parseValue(val)
	v.entries[key] = entry{node: node, room: room, name: name, rev: rev}
	r := v.rooms[room]
	if r == nil {
		r = make(map[string]string)
		v.rooms[room] = r
	}
	r[key] = name
	v.users.Store(int64(len(v.entries)))
}

// delLocked forgets key; other says it was another node's. Caller holds
// mu.
func (v *view) delLocked(key string) (other bool) {
	delete(v.mine, key)
	e, ok := v.entries[key]
	if !ok {
		return false
	}
	delete(v.entries, key)
	if r := v.rooms[e.room]; r != nil {
		delete(r, key)
		if len(r) == 0 {
			delete(v.rooms, e.room)
		}
	}
	v.users.Store(int64(len(v.entries)))
	return true
}

// Users implements hub.Cluster.
func (n *Node) Users() int64 { return n.v.users.Load() }

// Roster implements hub.Cluster.
func (n *Node) Roster(room string, names []string) ([]string, int) {
	n.v.mu.RLock()
	defer n.v.mu.RUnlock()
	r := n.v.rooms[room]
	if len(r) > hub.MaxRoster { // a count only
		return names, len(r)
	}
	for _, name := range r {
		names = append(names, name)
	}
	return names, len(r)
}

// Lookup implements hub.Cluster.
func (n *Node) Lookup(name string) (node, spelled string, ok bool) {
	n.v.mu.RLock()
	e, ok := n.v.entries[strings.ToLower(name)]
	n.v.mu.RUnlock()
	return e.node, e.name, ok
}

// supervise sets the registry up on every (re)connection, and whenever
// the liveness goroutine asks (heartbeat): the buckets, this node's
// liveness key, the watch, then, once the watch has replayed every name, a
// purge of this node's entries that no user holds and a resync of the
// workers. Between set-ups it applies the watch to the view and runs the
// janitor sixteen times per TTL, each round bounded in time. The liveness
// key is refreshed by heartbeat, on its own schedule: neither the
// janitor nor the watch can delay it.
func (n *Node) supervise() {
	janitor := time.NewTicker(n.cfg.TTL / 16)
	defer janitor.Stop()
	var updates <-chan jetstream.KeyValueEntry
	var synced bool // the current watch has delivered the initial values
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	// A watch ends with its context: nats.go then deletes its consumer on
	// a goroutine of its own. KeyWatcher.Stop would wait for that answer
	// here, up to nats.go's request timeout when NATS is silent.
	stopWatch := func() {}
	defer func() { stopWatch() }()
	for {
		select {
		case <-n.stop:
			return
		case <-n.setupSig:
		case <-retry.C:
		case e, ok := <-updates:
			if !ok {
				updates = nil
				continue
			}
			if e == nil { // the initial values are in
				synced = true
				n.ready.Store(true)
				n.purgeMine()
				n.resync()
				continue
			}
			put := e.Operation() == jetstream.KeyValuePut
			n.v.mu.Lock()
			if put {
				n.v.putLocked(e.Key(), e.Value(), e.Revision())
			} else {
				n.v.delLocked(e.Key())
			}
			n.v.mu.Unlock()
			if !put || string(owner(e.Value())) != n.cfg.NodeID {
				// The name left the registry, or another node wrote it.
				// A member here may hold it: another tab of the user
				// whose entry another node held, or this node's own user
				// whose entry was deleted or taken over (by a node that
				// thought this one gone). It is claimed for this node
				// again: written, or found another node's and its holder
				// here renamed (Receiver.Lost).
				n.recv.Freed(e.Key())
			}
			continue
		case <-janitor.C:
			if synced && n.Healthy() {
				n.sweep()
			}
			continue
		}
		// (Re)connected, or asked: set up again.
		n.ready.Store(false)
		stopWatch()
		updates = nil
		synced = false
		n.stale = nil // the new watch shows what is left of them
		if !n.nc.IsConnected() {
			continue
		}
		if err := n.setup(); err != nil {
			n.log.Warn("cluster: registry setup failed; retrying", "err", err)
			retry.Reset(time.Second)
			continue
		}
		// Not a timeout context: the watch lives as long as its context.
		wctx, cancel := context.WithCancel(n.ctx)
		w, err := n.kv.Load().names.WatchAll(wctx)
		if err != nil {
			cancel()
			n.log.Warn("cluster: registry watch failed; retrying", "err", err)
			retry.Reset(time.Second)
			continue
		}
		stopWatch = cancel
		updates = w.Updates()
		// A new watch replays every name: start from an empty view.
		n.v.mu.Lock()
		n.v.init(n.cfg.NodeID)
		n.v.users.Store(0)
		n.v.mu.Unlock()
	}
}

// heartbeat refreshes the liveness key four times per TTL, on its own
// goroutine: the key lives three quarters of the TTL, so a live node
// refreshes it twice more before it expires, whatever the janitor and the
// watch are doing. It is also the registry's health check: when a refresh
// succeeds after failing (JetStream restarted under a connection that
// stayed up, or overloaded), or registry work was dropped meanwhile
// (needSetup), the supervisor sets the registry up again at once, with a
// new watch (nats.go alone would notice the lost watch only after missing
// its heartbeats, about 20 s); else the workers retry what failed.
func (n *Node) heartbeat() {
	tick := time.NewTicker(n.cfg.TTL / 4)
	defer tick.Stop()
	failed := false
	for {
		select {
		case <-n.stop:
			return
		case <-tick.C:
		}
		if n.kv.Load() == nil || !n.nc.IsConnected() {
			continue
		}
		if err := n.alive(); err != nil {
			failed = true
			continue
		}
		switch {
		case failed:
			failed = false
			n.needSetup.Store(false)
			n.log.Info("cluster: JetStream answers again; watching the registry anew")
			n.kick()
		case n.needSetup.Swap(false):
			n.log.Info("cluster: registry work was dropped; setting the registry up again")
			n.kick()
		case n.ready.Load():
			n.retry()
		}
	}
}

// setup creates (or binds) the buckets and writes the liveness key, before
// any name of this node is written: a janitor never sees this node's
// names without its key.
func (n *Node) setup() error {
	ctx, cancel := context.WithTimeout(n.ctx, 2*n.cfg.OpTimeout)
	defer cancel()
	names, err := n.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: n.cfg.Name + "_names", Description: "edgews chat: user name -> NODE ROOM Name", History: 1, Replicas: n.cfg.Replicas,
	})
	if err != nil {
		return err
	}
	nodes, err := n.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: n.cfg.Name + "_nodes", Description: "edgews chat: live nodes", History: 1, TTL: n.cfg.TTL * 3 / 4, Replicas: n.cfg.Replicas,
	})
	if err != nil {
		return err
	}
	n.kv.Store(&buckets{names: names, nodes: nodes})
	if _, err := nodes.Put(ctx, n.cfg.NodeID, []byte("alive")); err != nil {
		return err
	}
	return nil
}

// alive refreshes the liveness key.
func (n *Node) alive() error {
	b := n.kv.Load()
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.OpTimeout)
	defer cancel()
	_, err := b.nodes.Put(ctx, n.cfg.NodeID, []byte("alive"))
	if err != nil && !n.closing() {
		n.log.Warn("cluster: liveness refresh failed", "err", err)
	}
	return err
}

// purgeMine queues, once a watch has replayed every name, the deletion of
// this node's entries that no member here holds: left by an earlier life
// of the same --node-id that died without a goodbye, or by releases this
// node could not make (while the registry was unavailable, or dropped
// from a full queue). Each goes to its name's worker, which checks again
// (a claim made since has run before it) and deletes it revision-checked.
func (n *Node) purgeMine() {
	n.v.mu.Lock()
	mine := n.v.mine
	n.v.mine = nil
	n.v.mu.Unlock()
	for k, rev := range mine {
		if !n.recv.Holds(k) {
			n.worker(k).push(op{kind: opPurge, key: k, rev: rev})
		}
	}
}

// staleName is a name of a gone node, left from the view, to delete.
type staleName struct {
	key string
	rev uint64
}

// sweep is one round of the janitor: the users of nodes whose liveness
// key has expired leave the view at once, and their names are queued for
// deletion (revision-checked, so a name claimed again meanwhile stays),
// made while the round's time lasts (at least one), the rest in the next
// rounds: a round never holds up the watch (nor, on its own goroutine, the
// liveness key) for long, whatever the latency to NATS. The view is read
// before the liveness keys: a node writes its key before its names, so an
// entry seen before the read belongs to a node whose key the read finds if
// that node is alive.
func (n *Node) sweep() {
	deadline := time.Now().Add(n.sweepBudget())
	b := n.kv.Load()
	n.v.mu.RLock()
	seen := make(map[string][]string) // node -> keys
	for k, e := range n.v.entries {
		seen[e.node] = append(seen[e.node], k)
	}
	n.v.mu.RUnlock()
	for _, node := range n.goneNodes(b, seen, deadline) {
		ks := seen[node]
		n.log.Info("cluster: node gone; freeing its names", "gone", node, "names", len(ks))
		n.v.mu.Lock()
		for _, k := range ks {
			if e, ok := n.v.entries[k]; ok && e.node == node {
				n.stale = append(n.stale, staleName{key: k, rev: e.rev})
				n.v.delLocked(k)
			}
		}
		n.v.mu.Unlock()
	}
	for len(n.stale) > 0 && time.Now().Before(deadline) {
		s := n.stale[len(n.stale)-1]
		n.stale = n.stale[:len(n.stale)-1]
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.OpTimeout)
		if b.names.Delete(ctx, s.key, jetstream.LastRevision(s.rev)) == nil {
			n.stats.StaleFreed.Add(1)
		}
		cancel()
	}
	if len(n.stale) == 0 {
		n.stale = nil // a big sweep's array goes
	}
}

// sweepBudget is how long a janitor round may take reading liveness keys
// and deleting names (it reads and deletes at least one of each): half
// the janitor's period.
func (n *Node) sweepBudget() time.Duration { return n.cfg.TTL / 32 }

// goneNodes reads the liveness key of each node of seen (a few per round
// if the reads are slow: one at least, the others while the round's time
// lasts) and returns those whose key is not found: never a node whose
// read failed or timed out. A read of one key gives its latest write
// (a key refreshed while it is read is found), where the janitor used to
// list the keys with KeyValue.Keys, which returns what it got when its
// context ends, with no error: live nodes looked gone, and their users'
// names were deleted.
func (n *Node) goneNodes(b *buckets, seen map[string][]string, deadline time.Time) (gone []string) {
	skipped, read := false, 0
	for node := range seen {
		if read > 0 && time.Now().After(deadline) {
			skipped = true // the next rounds
			continue
		}
		read++
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.OpTimeout)
		_, err := b.nodes.Get(ctx, node)
		cancel()
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			gone = append(gone, node)
		case err != nil:
			skipped = true // unknown: alive as far as this round knows
		}
	}
	if skipped {
		n.stats.JanitorSkipped.Add(1)
	}
	return gone
}
