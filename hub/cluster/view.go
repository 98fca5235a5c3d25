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
	mine    map[string]uint64            // key -> revision: names under this node's id, until the first purge (nil after)
	users   atomic.Int64                 // len(entries)
}

type entry struct {
	node, room, name string
	rev              uint64
}

// init empties the view; mine says to collect this node's own names (for
// the first purge only).
func (v *view) init(self string, mine bool) {
	v.self = self
	v.entries = make(map[string]entry)
	v.rooms = make(map[string]map[string]string)
	v.mine = nil
	if mine {
		v.mine = make(map[string]uint64)
	}
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

// supervise sets the registry up on every (re)connection: the buckets,
// this node's liveness key, the watch, then a resync of the workers. It
// then refreshes the liveness key four times per TTL and runs the janitor
// sixteen times per TTL. The key lives three quarters of the TTL (a live
// node refreshes it twice more before that), so a dead node's key is gone
// 3/4 TTL after its last refresh, and the janitor frees its names within
// 13/16 of the TTL: within the TTL, whatever the janitors' phases.
func (n *Node) supervise() {
	refresh := time.NewTicker(n.cfg.TTL / 4)
	janitor := time.NewTicker(n.cfg.TTL / 16)
	defer refresh.Stop()
	defer janitor.Stop()
	var w jetstream.KeyWatcher
	var updates <-chan jetstream.KeyValueEntry
	var synced bool // the current watch has delivered the initial values
	var jsDown bool // the last liveness refresh failed
	first := true
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	stopWatch := func() {
		if w != nil {
			_ = w.Stop()
			w, updates = nil, nil
		}
	}
	defer stopWatch()
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
				if first {
					first = false
					n.purgeMine()
				}
				n.ready.Store(true)
				n.resync()
				continue
			}
			freed := false
			n.v.mu.Lock()
			if e.Operation() == jetstream.KeyValuePut {
				n.v.putLocked(e.Key(), e.Value(), e.Revision())
			} else {
				freed = n.v.delLocked(e.Key())
			}
			n.v.mu.Unlock()
			if freed {
				n.recv.Freed(e.Key()) // a tab here may hold it: claimed for this node
			}
			continue
		case <-refresh.C:
			if !n.ready.Load() {
				continue
			}
			if err := n.alive(); err != nil {
				jsDown = true
				continue
			}
			if !jsDown {
				n.retry()
				continue
			}
			// JetStream failed while NATS stayed up (restarted, or
			// overloaded): the watch's consumer may be gone, and nats.go
			// would only notice after missing its heartbeats (about 20 s):
			// set up again, with a new watch, at once (its resync does
			// the retry's work too).
			jsDown = false
			n.log.Info("cluster: JetStream answers again; watching the registry anew")
		case <-janitor.C:
			if synced && n.Healthy() {
				n.sweep()
			}
			continue
		}
		// (Re)connected: set up again.
		n.ready.Store(false)
		stopWatch()
		synced = false
		if !n.nc.IsConnected() {
			continue
		}
		if err := n.setup(); err != nil {
			n.log.Warn("cluster: registry setup failed; retrying", "err", err)
			retry.Reset(time.Second)
			continue
		}
		var err error
		// Not a timeout context: the watch lives as long as its context.
		w, err = n.kv.Load().names.WatchAll(context.Background())
		if err != nil {
			n.log.Warn("cluster: registry watch failed; retrying", "err", err)
			retry.Reset(time.Second)
			continue
		}
		updates = w.Updates()
		// A new watch replays every name: start from an empty view.
		n.v.mu.Lock()
		n.v.init(n.cfg.NodeID, first)
		n.v.users.Store(0)
		n.v.mu.Unlock()
	}
}

// setup creates (or binds) the buckets and writes the liveness key, before
// any name of this node is written: a janitor never sees this node's
// names without its key.
func (n *Node) setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*n.cfg.OpTimeout)
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
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.OpTimeout)
	defer cancel()
	_, err := b.nodes.Put(ctx, n.cfg.NodeID, []byte("alive"))
	if err != nil {
		n.log.Warn("cluster: liveness refresh failed", "err", err)
	}
	return err
}

// purgeMine deletes the names under this node's id that this process did
// not write: left by an earlier life of the same --node-id that died
// without a goodbye.
func (n *Node) purgeMine() {
	n.v.mu.RLock()
	stale := make(map[string]uint64, len(n.v.mine))
	for k, rev := range n.v.mine {
		stale[k] = rev
	}
	n.v.mu.RUnlock()
	n.v.mu.Lock()
	n.v.mine = nil // only the first watch's names can be an earlier life's
	n.v.mu.Unlock()
	b := n.kv.Load()
	for k, rev := range stale {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.OpTimeout)
		if b.names.Delete(ctx, k, jetstream.LastRevision(rev)) == nil {
			n.stats.StaleFreed.Add(1)
		}
		cancel()
	}
}

// sweep is the janitor: the users of nodes whose liveness key has expired
// leave the view at once, and their names are deleted (revision-checked,
// so a name claimed again meanwhile stays). The view is read before the
// live nodes are listed: a node writes its key before its names, so an
// entry seen before the listing belongs to a node the listing shows if
// that node is alive.
func (n *Node) sweep() {
	n.v.mu.RLock()
	seen := make(map[string][]string) // node -> keys
	for k, e := range n.v.entries {
		seen[e.node] = append(seen[e.node], k)
	}
	n.v.mu.RUnlock()
	if len(seen) == 0 {
		return
	}
	b := n.kv.Load()
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.OpTimeout)
	keys, err := b.nodes.Keys(ctx)
	cancel()
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return
	}
	for _, k := range keys {
		delete(seen, k)
	}
	for node, ks := range seen {
		n.log.Info("cluster: node gone; freeing its names", "gone", node, "names", len(ks))
		revs := make(map[string]uint64, len(ks))
		n.v.mu.Lock()
		for _, k := range ks {
			if e, ok := n.v.entries[k]; ok && e.node == node {
				revs[k] = e.rev
				n.v.delLocked(k)
			}
		}
		n.v.mu.Unlock()
		for k, rev := range revs {
			ctx, cancel := context.WithTimeout(context.Background(), n.cfg.OpTimeout)
			if b.names.Delete(ctx, k, jetstream.LastRevision(rev)) == nil {
				n.stats.StaleFreed.Add(1)
			}
			cancel()
		}
	}
}
