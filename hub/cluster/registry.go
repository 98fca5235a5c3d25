package cluster

import (
	"context"
	"errors"
	"hash/maphash"
	"strings"
	"sync"
	"time"
	"unique"

	"edgews/hub"
	"github.com/nats-io/nats.go/jetstream"
)

// Registry calls (hub.Cluster's Claim, Update and Release) are queued to
// one of a few workers, by name: one name's calls keep their order. A
// worker remembers the names this node holds and the revision it wrote,
// so that its updates and releases are revision-checked (a name that
// another node took over, after this node was cut off for longer than the
// TTL, is never overwritten or deleted).

type opKind uint8

const (
	opClaim opKind = iota
	opUpdate
	opRelease
	opResync // claim again what was granted or changed during an outage
)

type op struct {
	kind       opKind
	key        string // lower-case name
	name, room string
	done       func(hub.ClaimResult) // opClaim
}

// held is a name this node holds, kept by value in its worker's map under
// the lower-case name: one per connected user, so it is small (16 bytes,
// TestHeldSize). The room is an interned handle, shared by the room's
// users; the name's spelling is the key itself unless it has upper-case
// letters (worker.spelled); the other tabs of an authenticated user that
// share the name are counted apart (worker.tabs).
type held struct {
	room unique.Handle[string]
	rev  uint64 // revision written; 0: not (yet) written to the cluster
}

var keySeed = maphash.MakeSeed()

func (n *Node) worker(key string) *worker {
	return n.reg[maphash.String(keySeed, key)%workers]
}

// Claim implements hub.Cluster.
func (n *Node) Claim(name, room string, done func(hub.ClaimResult)) {
	key := strings.ToLower(name)
	n.worker(key).push(op{kind: opClaim, key: key, name: name, room: room, done: done})
}

// Update implements hub.Cluster.
func (n *Node) Update(name, room string) {
	key := strings.ToLower(name)
	n.worker(key).push(op{kind: opUpdate, key: key, name: name, room: room})
}

// Release implements hub.Cluster.
func (n *Node) Release(name string) {
	key := strings.ToLower(name)
	n.worker(key).push(op{kind: opRelease, key: key})
}

// resync asks every worker to write again what the cluster missed.
func (n *Node) resync() {
	for _, w := range n.reg {
		w.push(op{kind: opResync})
	}
}

// worker runs registry calls one at a time. Its queue is a slice, not a
// bounded channel: it holds at most a few calls per connected user (each
// user's commands are rate-limited), and a push must never wait.
type worker struct {
	n     *Node
	mu    sync.Mutex
	queue []op
	busy  bool
	idle  chan struct{} // closed and replaced when the queue empties
	kick  chan struct{}

	// Worker goroutine only:
	held    map[string]held   // key -> a name this node holds
	spelled map[string]string // key -> name, for held names not spelled as their key
	tabs    map[string]int    // key -> claims of a held name beyond the first, not yet released
	dirty   bool              // something waits for resync
	freed   map[string]uint64 // released while unavailable: key -> revision to delete (0: delete if this node's)
}

func newWorker(n *Node) *worker {
	return &worker{n: n, kick: make(chan struct{}, 1), idle: make(chan struct{}),
		held: make(map[string]held), spelled: make(map[string]string), tabs: make(map[string]int),
		freed: make(map[string]uint64)}
}

// hold records h for key, spelled name.
func (w *worker) hold(key, name string, h held) {
	w.held[key] = h
	if name == key {
		delete(w.spelled, key)
	} else {
		w.spelled[key] = name
	}
}

// name is the spelling of held key.
func (w *worker) name(key string) string {
	if name, ok := w.spelled[key]; ok {
		return name
	}
	return key
}

// forget drops held key.
func (w *worker) forget(key string) {
	delete(w.held, key)
	delete(w.spelled, key)
	delete(w.tabs, key)
}

func (w *worker) push(o op) {
	w.mu.Lock()
	w.queue = append(w.queue, o)
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// wait returns once the calls queued before it are done, or ctx ends.
func (w *worker) wait(ctx context.Context) error {
	for {
		w.mu.Lock()
		empty, idle := len(w.queue) == 0 && !w.busy, w.idle
		w.mu.Unlock()
		if empty {
			return nil
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (w *worker) run() {
	for {
		select {
		case <-w.kick:
		case <-w.n.stop:
			return
		}
		for {
			w.mu.Lock()
			if len(w.queue) == 0 {
				w.busy = false
				close(w.idle)
				w.idle = make(chan struct{})
				w.mu.Unlock()
				break
			}
			o := w.queue[0]
			w.queue[0] = op{}
			w.queue = w.queue[1:]
			if len(w.queue) == 0 {
				w.queue = nil // let a burst's backing array go
			}
			w.busy = true
			w.mu.Unlock()
			w.do(o)
		}
	}
}

func (w *worker) do(o op) {
	switch o.kind {
	case opClaim:
		o.done(w.claim(o.key, o.name, o.room))
	case opUpdate:
		w.update(o.key, o.name, o.room)
	case opRelease:
		w.release(o.key)
	case opResync:
		w.resyncAll()
	}
}

// call runs one registry call with the timeout, timing and counting it.
func (w *worker) call(f func(ctx context.Context) error) error {
	n := w.n
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.OpTimeout)
	start := time.Now()
	err := f(ctx)
	cancel()
	n.stats.RegistryOps.Add(1)
	if n.cfg.ObserveRegistry != nil {
		n.cfg.ObserveRegistry(time.Since(start))
	}
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyNotFound) && !isWrongRevision(err) {
		n.stats.RegistryErrors.Add(1)
	}
	return err
}

// kv is the buckets, or nil while the cluster is unavailable.
func (w *worker) kv() *buckets {
	if !w.n.Healthy() {
		return nil
	}
	return w.n.kv.Load()
}

func value(node, room, name string) []byte { return []byte(node + " " + room + " " + name) }

// claimAttempts is how many times a claim tries the registry while the
// cluster is up, claimBackoff the pause after a failed attempt (doubled
// each time): a registry call that fails (a timeout under load) leaves
// the claim undecided, and granting it then could give one name to two
// users.
const (
	claimAttempts = 3
	claimBackoff  = 20 * time.Millisecond
)

// claim takes key for this node: ClaimTaken if a live node holds it,
// ClaimBusy if the registry failed every attempt while the cluster was up.
// Only a cluster known to be unavailable grants it locally (claimed again
// at the resync).
func (w *worker) claim(key, name, room string) hub.ClaimResult {
	if _, ok := w.held[key]; ok {
		w.tabs[key]++ // this node holds it already: another tab of its user
		return hub.ClaimGranted
	}
	h := held{room: unique.Make(room)}
	backoff := claimBackoff
	for try := 1; ; try++ {
		b := w.kv()
		if b == nil {
			delete(w.freed, key)
			w.hold(key, name, h)
			w.dirty = true
			return hub.ClaimGranted
		}
		ok, err := w.write(b, key, name, &h)
		switch {
		case err == nil && ok:
			delete(w.freed, key)
			w.hold(key, name, h)
			return hub.ClaimGranted
		case err == nil:
			return hub.ClaimTaken
		case try < claimAttempts && w.pause(backoff):
			backoff *= 2
			continue
		}
		w.n.stats.ClaimsBusy.Add(1)
		w.n.log.Debug("cluster: claim refused: registry busy", "name", name, "err", err)
		// An attempt may have written the name before its answer was
		// lost: it goes at the next resync if it is this node's.
		if _, freed := w.freed[key]; !freed {
			w.freed[key], w.dirty = 0, true
		}
		return hub.ClaimBusy
	}
}

// pause waits d, or less if the node closes: false then.
func (w *worker) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.n.stop:
		return false
	}
}

// write creates key for h, replacing a stale claim (one of a node that is
// gone, or of this node's id in an earlier life) with a revision-checked
// update. It sets h.rev; ok is false if a live node holds key.
func (w *worker) write(b *buckets, key, name string, h *held) (ok bool, err error) {
	n := w.n
	val := value(n.cfg.NodeID, h.room.Value(), name)
	var rev uint64
	err = w.call(func(ctx context.Context) (err error) { rev, err = b.names.Create(ctx, key, val); return err })
	if err == nil {
		h.rev = rev
		return true, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return false, err
	}
	var e jetstream.KeyValueEntry
	err = w.call(func(ctx context.Context) (err error) { e, err = b.names.Get(ctx, key); return err })
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return w.write(b, key, name, h) // released meanwhile: try again
	}
	if err != nil {
		return false, err
	}
	owner, _, _ := parseValue(e.Value())
	if owner != n.cfg.NodeID {
		err = w.call(func(ctx context.Context) error { _, err := b.nodes.Get(ctx, owner); return err })
		if err == nil {
			return false, nil // a live node holds it
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return false, err
		}
	}
	err = w.call(func(ctx context.Context) (err error) {
		rev, err = b.names.Update(ctx, key, val, e.Revision())
		return err
	})
	if isWrongRevision(err) {
		return false, nil // another claimer replaced the stale claim first
	}
	if err != nil {
		return false, err
	}
	n.stats.StaleFreed.Add(1)
	h.rev = rev
	return true, nil
}

// update records a held name's room or spelling.
func (w *worker) update(key, name, room string) {
	h, ok := w.held[key]
	if !ok {
		return
	}
	h.room = unique.Make(room)
	w.hold(key, name, h)
	b := w.kv()
	if b == nil || h.rev == 0 {
		w.dirty = true
		return
	}
	var rev uint64
	err := w.call(func(ctx context.Context) (err error) {
		rev, err = b.names.Update(ctx, key, value(w.n.cfg.NodeID, room, name), h.rev)
		return err
	})
	switch {
	case err == nil:
		h.rev = rev
		w.held[key] = h
	case isWrongRevision(err):
		w.lost(key)
	default:
		w.dirty = true
	}
}

// release frees a held name.
func (w *worker) release(key string) {
	h, ok := w.held[key]
	if !ok {
		return
	}
	if tabs := w.tabs[key]; tabs > 0 {
		if tabs == 1 {
			delete(w.tabs, key)
		} else {
			w.tabs[key] = tabs - 1
		}
		return
	}
	w.forget(key)
	if h.rev == 0 {
		return
	}
	b := w.kv()
	if b == nil {
		w.freed[key], w.dirty = h.rev, true
		return
	}
	if err := w.del(b, key, h.rev); err != nil && !isWrongRevision(err) {
		w.freed[key], w.dirty = h.rev, true
	}
}

func (w *worker) del(b *buckets, key string, rev uint64) error {
	return w.call(func(ctx context.Context) error { return b.names.Delete(ctx, key, jetstream.LastRevision(rev)) })
}

// resyncAll writes what was granted, changed or released while the
// cluster was unavailable, and checks that the names written before are
// still this node's (the cluster may have been restarted without its
// store, or have freed them while this node was cut off).
func (w *worker) resyncAll() {
	b := w.kv()
	if b == nil {
		return
	}
	w.dirty = false
	for key, rev := range w.freed {
		if rev == 0 { // a busy claim's: delete it if this node wrote it
			var e jetstream.KeyValueEntry
			err := w.call(func(ctx context.Context) (err error) { e, err = b.names.Get(ctx, key); return err })
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				delete(w.freed, key)
				continue
			}
			if err != nil {
				w.dirty = true
				continue
			}
			if owner, _, _ := parseValue(e.Value()); owner != w.n.cfg.NodeID {
				delete(w.freed, key)
				continue
			}
			rev = e.Revision()
		}
		if err := w.del(b, key, rev); err != nil && !isWrongRevision(err) {
			w.dirty = true
			continue
		}
		delete(w.freed, key)
	}
	for key, h := range w.held {
		if h.rev != 0 {
			var e jetstream.KeyValueEntry
			err := w.call(func(ctx context.Context) (err error) { e, err = b.names.Get(ctx, key); return err })
			if err == nil && e.Revision() == h.rev {
				continue // still ours, unchanged
			}
			if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
				w.dirty = true
				continue
			}
			h.rev = 0
		}
		ok, err := w.write(b, key, w.name(key), &h)
		w.held[key] = h // its revision; an existing key: the range goes on as before
		switch {
		case err != nil:
			w.dirty = true
		case !ok:
			w.lost(key)
		}
	}
}

// lost gives up a name that another node holds now: the user keeps it on
// this node (renaming a connected user behind its back would be worse), but
// the cluster no longer sees it as this node's.
func (w *worker) lost(key string) {
	w.n.stats.Conflicts.Add(1)
	w.n.log.Warn("cluster: a name granted during an outage is held by another node", "name", w.name(key))
	w.forget(key)
}

// isWrongRevision reports a failed revision check.
func isWrongRevision(err error) bool {
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists)
}

// parseValue splits a names value: "NODE ROOM Name".
func parseValue(v []byte) (node, room, name string) {
	s := string(v)
	node, rest, _ := strings.Cut(s, " ")
	room, name, _ = strings.Cut(rest, " ")
	return node, room, name
}
