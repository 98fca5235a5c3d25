package cluster

import (
	"bytes"
	"context"
	"errors"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"edgews/hub"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Registry calls (hub.Cluster's Claim, Update and Release) are queued to
// one of a few workers, by name: one name's calls keep their order. A
// worker keeps nothing per name while the cluster is up: what this node
// holds is the hub's (Receiver.Names), and a name's entry in the registry
// says which node holds it. An update or a release reads the entry first
// and writes only an entry of this node's, revision-checked: a name that
// another node took over (after this node was cut off for longer than the
// TTL) is never overwritten or deleted. That costs a read per update and
// release (a /join, /nick or disconnect) and saves a map entry per
// connected user: 37 to 75 bytes of long-lived memory per user, more than
// the whole cluster may add to an idle connection (TestRegistryBytesPerUser).
//
// The queue is bounded (Config.RegistryQueue entries, RegistryQueueBytes
// bytes): past it a claim is refused busy at once and an update or a
// release is dropped, counted (Stats.RegistryDropped), and the registry is
// set up again once it answers (its resync writes what the hub holds, its
// purge deletes what it no longer does). A release cancels the claims and
// updates of its name still queued (their connection is gone: counted in
// Stats.RegistryGone), and stops a claim of it being tried, so that a
// registry that does not answer is not asked, three times per claim, for
// names of users who already left.

type opKind uint8

const (
	opClaim opKind = iota
	opUpdate
	opRelease
	opResync // after a reconnection: write what the cluster missed, check what it has
	opRetry  // write what failed while the cluster was up
	opPurge  // delete an entry of this node's that the hub no longer holds (found at a set-up)
)

type op struct {
	kind       opKind
	key        string // lower-case name
	name, room string
	done       hub.Claimant // opClaim; nil: the hub keeps the name whatever the answer
	rev        uint64       // opPurge: the entry's revision
}

// internal reports whether o is the node's own work (resync, retry,
// purge), which the queue's bounds do not refuse: there is at most one of
// each kind per worker and set-up, or one per entry of this node's found.
func (o *op) internal() bool { return o.kind >= opResync }

// opBytes is what o costs in the queue, for Config.RegistryQueueBytes.
func opBytes(o *op) int {
	return int(unsafe.Sizeof(*o)) + len(o.key) + len(o.name) + len(o.room)
}

var keySeed = maphash.MakeSeed()

func (n *Node) worker(key string) *worker {
	return n.reg[maphash.String(keySeed, key)%workers]
}

// Claim implements hub.Cluster. A full queue refuses the claim at once
// (ClaimBusy, from the caller's goroutine).
func (n *Node) Claim(name, room string, done hub.Claimant) {
	key := strings.ToLower(name)
	if !n.worker(key).push(op{kind: opClaim, key: key, name: name, room: room, done: done}) && done != nil {
		done.Claimed(hub.ClaimBusy, "")
	}
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

// retry asks every worker to write what failed while the cluster was up
// (the liveness tick, four times per TTL).
func (n *Node) retry() {
	for _, w := range n.reg {
		w.push(op{kind: opRetry})
	}
}

// worker runs registry calls one at a time. Its queue is a slice, bounded
// by Config.RegistryQueue and RegistryQueueBytes (a share of each per
// worker), and a push never waits.
type worker struct {
	n     *Node
	mu    sync.Mutex
	queue []op
	bytes int // opBytes of the ops queued or taken and not started (internal ones included)
	taken int // ops of the batch being worked, not started yet: still held, counted in the bound
	busy  bool
	idle  chan struct{} // made by wait, closed when the queue empties
	kick  chan struct{}
	spare []op   // the last batch's array, for the next (worker goroutine only)
	cur   string // key of the claim being made, "" if none; guarded by mu
	drop  bool   // cur was released meanwhile: stop trying; guarded by mu

	maxLen, maxBytes int // this worker's share of the queue's bounds

	// The registry calls' context (deadline); worker goroutine only.
	ctx    context.Context
	cancel context.CancelFunc
	renew  time.Time

	scratch []byte // value's buffer

	// create's state (create.go): the call awaited (0: none) and its ack.
	idx         int
	seq         uint64
	want        atomic.Uint64
	acks        chan createAck
	msg         nats.Msg
	subj, reply []byte

	// Worker goroutine only; empty while the cluster is up and its calls
	// succeed. Written at the next retry or resync; each holds at most
	// maxPending keys (past it the registry is set up again once it
	// answers, which writes and purges everything: Node.needSetup):
	granted map[string]pending   // key -> to write (granted while the cluster was unavailable, a name kept through a busy claim, or an update that failed); only names the hub holds
	freed   map[string]struct{}  // key -> to delete if this node's (a release that failed while the cluster was up; releases while it was unavailable are the purge's)
	lostNow map[string]time.Time // keys found another node's and reported (their holders are being renamed), when; nil if none
	pending atomic.Int64         // len(granted) + len(freed), for RegistryPending
}

// RegistryPending is how many names the workers keep to write or delete
// once the registry answers (granted while it was unavailable, or whose
// update or release failed): at most maxPending per worker and map.
func (n *Node) RegistryPending() int64 {
	var p int64
	for _, w := range n.reg {
		p += w.pending.Load()
	}
	return p
}

// maxPending bounds a worker's granted and freed maps.
const maxPending = 4096

// pending is a name to write: granted while the cluster was unavailable,
// or an update that failed.
type pending struct{ name, room string }

func newWorker(n *Node, idx int) *worker {
	return &worker{n: n, idx: idx, kick: make(chan struct{}, 1), acks: make(chan createAck, createAcks), msg: newCreateMsg(),
		maxLen: max(n.cfg.RegistryQueue/workers, 1), maxBytes: max(n.cfg.RegistryQueueBytes/workers, 1),
		granted: make(map[string]pending), freed: make(map[string]struct{})}
}

// push queues o; false if the queue is full (o dropped, counted; the
// registry is set up again once it answers). A release first cancels the
// queued claims and updates of its name (answered ClaimBusy: their
// connections are gone) and stops the claim of it being made; it is not
// queued twice.
func (w *worker) push(o op) bool {
	var cancelled []hub.Claimant
	w.mu.Lock()
	if o.kind == opRelease {
		queued := false
		cancelled, queued = w.cancelLocked(o.key)
		if queued {
			w.mu.Unlock()
			w.answerGone(cancelled)
			return true
		}
	}
	if o.kind == opResync || o.kind == opRetry {
		// One of each waiting is enough (each does all there is to do when
		// it runs): a liveness tick every quarter TTL while a call hangs
		// on a silent NATS would otherwise pile retries up without bound.
		for i := range w.queue {
			if w.queue[i].kind == o.kind {
				w.mu.Unlock()
				return true
			}
		}
	}
	b := opBytes(&o)
	if !o.internal() && (len(w.queue)+w.taken >= w.maxLen || w.bytes+b > w.maxBytes) {
		w.mu.Unlock()
		w.answerGone(cancelled)
		w.n.stats.RegistryDropped.Add(1)
		w.n.needSetup.Store(true)
		return false
	}
	w.queue = append(w.queue, o)
	w.bytes += b
	w.n.stats.RegistryQueued.Add(1)
	w.mu.Unlock()
	w.answerGone(cancelled)
	select {
	case w.kick <- struct{}{}:
	default:
	}
	return true
}

// cancelLocked takes the claims and updates of key out of the queue
// (their claimants, to be answered), marks key's claim being made, if
// any, to stop; queued reports a release of key in the queue already.
// Caller holds mu.
func (w *worker) cancelLocked(key string) (claims []hub.Claimant, queued bool) {
	if w.cur == key {
		w.drop = true
	}
	q := w.queue[:0]
	for _, o := range w.queue {
		if o.key != key || o.kind != opClaim && o.kind != opUpdate {
			queued = queued || o.kind == opRelease && o.key == key
			q = append(q, o)
			continue
		}
		if o.done != nil {
			claims = append(claims, o.done)
		}
		w.bytes -= opBytes(&o)
		w.n.stats.RegistryQueued.Add(-1)
		w.n.stats.RegistryGone.Add(1)
	}
	clear(w.queue[len(q):])
	w.queue = q
	return claims, queued
}

// answerGone answers claims cancelled for connections that are gone.
func (w *worker) answerGone(claims []hub.Claimant) {
	for _, c := range claims {
		c.Claimed(hub.ClaimBusy, "")
	}
}

// moot reports whether o, taken from the queue in a batch, is a claim or
// an update of a name whose release was queued since (its connection is
// gone): it is not made (a claim is answered ClaimBusy), as push cancels
// those still queued.
func (w *worker) moot(o *op) bool {
	if o.kind != opClaim && o.kind != opUpdate {
		return false
	}
	w.mu.Lock()
	released := false
	for i := range w.queue {
		if q := &w.queue[i]; q.kind == opRelease && q.key == o.key {
			released = true
			break
		}
	}
	w.mu.Unlock()
	if !released {
		return false
	}
	w.n.stats.RegistryGone.Add(1)
	if o.done != nil {
		o.done.Claimed(hub.ClaimBusy, "")
	}
	return true
}

// dropped reports whether the claim being made was released meanwhile
// (its connection is gone): it stops trying.
func (w *worker) dropped() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.drop
}

// wait returns once the calls queued before it are done, or ctx ends.
func (w *worker) wait(ctx context.Context) error {
	w.mu.Lock()
	if len(w.queue) == 0 && !w.busy {
		w.mu.Unlock()
		return nil
	}
	if w.idle == nil {
		w.idle = make(chan struct{})
	}
	idle := w.idle
	w.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// maxSpare is the largest batch array a worker keeps for the next batch:
// a burst's bigger one goes.
const maxSpare = 64

// run takes the queued calls in batches, swapping the queue with the last
// batch's array: a steady trickle of calls (one per connect) allocates
// nothing for the queue.
func (w *worker) run() {
	defer func() {
		if w.cancel != nil {
			w.cancel()
		}
	}()
	for {
		select {
		case <-w.kick:
		case <-w.n.stop:
			w.unreleased(nil)
			return
		}
		for {
			w.mu.Lock()
			if len(w.queue) == 0 {
				w.busy = false
				if w.idle != nil {
					close(w.idle)
					w.idle = nil
				}
				w.mu.Unlock()
				break
			}
			batch := w.queue
			w.queue, w.spare = w.spare[:0], nil
			w.taken = len(batch)
			w.busy = true
			w.mu.Unlock()
			for i := range batch {
				if w.n.closing() {
					w.unreleased(batch[i:]) // Close's deadline passed
					return
				}
				w.mu.Lock()
				w.taken--
				w.bytes -= opBytes(&batch[i])
				w.mu.Unlock()
				w.n.stats.RegistryQueued.Add(-1)
				if !w.moot(&batch[i]) {
					w.do(batch[i])
				}
				batch[i] = op{}
			}
			if cap(batch) <= maxSpare {
				w.spare = batch
			}
		}
	}
}

func (w *worker) do(o op) {
	defer func() { w.pending.Store(int64(len(w.granted) + len(w.freed))) }()
	switch o.kind {
	case opClaim:
		res, holder := w.claim(o.key, o.name, o.room)
		switch {
		case o.done != nil:
			o.done.Claimed(res, holder)
		case res == hub.ClaimTaken: // a name the hub keeps
			w.lost(o.name, holder)
		case res == hub.ClaimBusy:
			w.grant(o.key, pending{name: o.name, room: o.room}) // the next retry
		}
	case opPurge:
		w.purge(o.key, o.rev)
	case opUpdate:
		w.update(o.key, o.name, o.room)
	case opRelease:
		w.release(o.key)
	case opResync:
		w.resyncAll()
	case opRetry:
		if b := w.kv(); b != nil {
			w.retryAll(b)
		}
	}
}

// call runs one registry call with the timeout, timing and counting it.
func (w *worker) call(f func(ctx context.Context) error) error {
	n := w.n
	start := time.Now()
	err := f(w.deadline(start))
	n.stats.RegistryOps.Add(1)
	if n.cfg.ObserveRegistry != nil {
		n.cfg.ObserveRegistry(time.Since(start))
	}
	if err != nil && !errors.Is(err, errLastSeq) && !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyNotFound) && !isWrongRevision(err) {
		n.stats.RegistryErrors.Add(1)
	}
	return err
}

// deadline is the context of a registry call starting at now: the
// worker's current one while at least three quarters of the op timeout
// are left in it, else a new one. A call gets 3/4 to all of the timeout,
// and a trickle of calls (one per connect) shares one context per quarter
// timeout instead of allocating four objects each, garbage that would
// land among the connections' long-lived state.
func (w *worker) deadline(now time.Time) context.Context {
	if w.ctx == nil || now.After(w.renew) {
		if w.cancel != nil {
			w.cancel()
		}
		timeout := w.n.cfg.OpTimeout
		w.ctx, w.cancel = context.WithTimeout(w.n.ctx, timeout)
		w.renew = now.Add(timeout / 4)
	}
	return w.ctx
}

// kv is the buckets, or nil while the cluster is unavailable.
func (w *worker) kv() *buckets {
	if !w.n.Healthy() {
		return nil
	}
	return w.n.kv.Load()
}

// value is a names entry, "NODE ROOM Name", in the worker's scratch
// buffer: valid until the next call (nats.go copies what it publishes).
func (w *worker) value(room, name string) []byte {
	b := append(w.scratch[:0], w.n.cfg.NodeID...)
	b = append(append(b, ' '), room...)
	b = append(append(b, ' '), name...)
	w.scratch = b
	return b
}

// claimAttempts is how many times a claim tries the registry while the
// cluster is up, claimBackoff the pause after a failed attempt (doubled
// each time): a registry call that fails (a timeout under load) leaves
// the claim undecided, and granting it then could give one name to two
// users.
const (
	claimAttempts = 3
	claimBackoff  = 20 * time.Millisecond
)

// claim takes key for this node: ClaimTaken if a live node holds it
// (holder), ClaimBusy if the registry failed every attempt while the
// cluster was up (an attempt may have written it: the hub releases what it
// does not keep), or if the name was released meanwhile (its connection
// left: no more attempts). Only a cluster known to be unavailable grants
// it locally (written at the resync after the reconnection). A name this
// node holds already (another tab of an authenticated user) is granted
// again.
func (w *worker) claim(key, name, room string) (res hub.ClaimResult, holder string) {
	w.mu.Lock()
	w.cur, w.drop = key, false
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.cur, w.drop = "", false
		w.mu.Unlock()
	}()
	backoff := claimBackoff
	for try := 1; ; try++ {
		b := w.kv()
		if b == nil {
			delete(w.freed, key)
			w.grant(key, pending{name: name, room: room})
			return hub.ClaimGranted, ""
		}
		ok, holder, err := w.write(b, key, name, room)
		switch {
		case err == nil && ok:
			delete(w.freed, key)
			delete(w.granted, key) // written now, and newer
			return hub.ClaimGranted, ""
		case err == nil:
			return hub.ClaimTaken, holder
		case w.dropped():
			w.n.stats.RegistryGone.Add(1)
			return hub.ClaimBusy, ""
		case try < claimAttempts && w.pause(backoff):
			backoff *= 2
			continue
		}
		w.n.stats.ClaimsBusy.Add(1)
		w.n.log.Debug("cluster: claim refused: registry busy", "name", name, "err", err)
		return hub.ClaimBusy, ""
	}
}

// grant records a name to write at the next retry, if there is room.
func (w *worker) grant(key string, p pending) {
	if _, ok := w.granted[key]; ok || len(w.granted) < maxPending {
		w.granted[key] = p
		return
	}
	w.n.needSetup.Store(true) // the set-up's resync writes what the hub holds
}

// free records a name to delete (if this node's) at the next retry, if
// there is room.
func (w *worker) free(key string) {
	if len(w.freed) < maxPending {
		w.freed[key] = struct{}{}
		return
	}
	w.n.needSetup.Store(true) // the set-up's purge deletes what the hub no longer holds
}

// purge deletes key's entry, this node's at revision rev when a set-up
// found it, unless the hub holds the name now (this worker runs the
// name's claims, so one made since has either run, and the hub holds the
// name, or will create the entry again).
func (w *worker) purge(key string, rev uint64) {
	b := w.kv()
	if b == nil || w.n.recv.Holds(key) {
		return
	}
	err := w.call(func(ctx context.Context) error { return b.names.Delete(ctx, key, jetstream.LastRevision(rev)) })
	if err == nil {
		w.n.stats.StaleFreed.Add(1)
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

// write makes key this node's, for name in room: it creates the entry, or
// replaces a stale one (of a node that is gone, or of this node's id in an
// earlier life) or this node's own with a revision-checked update. ok is
// false if a live node holds key: holder, or "" if another claimer
// replaced a stale entry first.
func (w *worker) write(b *buckets, key, name, room string) (ok bool, holder string, err error) {
	n := w.n
	val := w.value(room, name)
	err = w.call(func(ctx context.Context) error { return w.create(ctx, b, key, val) })
	if err == nil {
		return true, "", nil
	}
	if !errors.Is(err, errLastSeq) {
		return false, "", err
	}
	var e jetstream.KeyValueEntry
	err = w.call(func(ctx context.Context) (err error) { e, err = b.names.Get(ctx, key); return err })
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		// A freed name's delete marker (or released meanwhile):
		// KeyValue.Create writes over the marker at its revision.
		err = w.call(func(ctx context.Context) error { _, err := b.names.Create(ctx, key, val); return err })
		if errors.Is(err, jetstream.ErrKeyExists) {
			return w.write(b, key, name, room) // taken meanwhile: read it
		}
		return err == nil, "", err
	}
	if err != nil {
		return false, "", err
	}
	holder = string(owner(e.Value()))
	mine := holder == n.cfg.NodeID
	if mine && bytes.Equal(e.Value(), val) {
		return true, "", nil // written already
	}
	if !mine {
		err = w.call(func(ctx context.Context) error { _, err := b.nodes.Get(ctx, holder); return err })
		if err == nil {
			return false, holder, nil // a live node holds it
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return false, "", err
		}
	}
	err = w.call(func(ctx context.Context) error { _, err := b.names.Update(ctx, key, val, e.Revision()); return err })
	if isWrongRevision(err) {
		return false, "", nil // another claimer replaced the entry first
	}
	if err != nil {
		return false, "", err
	}
	if !mine {
		n.stats.StaleFreed.Add(1)
	}
	return true, "", nil
}

// mine reads key's entry if it is this node's; nil if there is none or
// it is another node's.
func (w *worker) mine(b *buckets, key string) (entry jetstream.KeyValueEntry, err error) {
	err = w.call(func(ctx context.Context) (err error) { entry, err = b.names.Get(ctx, key); return err })
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if string(owner(entry.Value())) != w.n.cfg.NodeID {
		return nil, nil
	}
	return entry, nil
}

// update records the room or the spelling of key, if the entry is this
// node's.
func (w *worker) update(key, name, room string) {
	if _, ok := w.granted[key]; ok {
		w.granted[key] = pending{name: name, room: room} // not written yet
		return
	}
	b := w.kv()
	if b == nil {
		return // the resync after the reconnection compares the entry with the hub's
	}
	e, err := w.mine(b, key)
	switch {
	case err != nil:
		w.grant(key, pending{name: name, room: room})
		return
	case e == nil:
		return // another node's (this node kept it after losing it), or gone
	}
	val := w.value(room, name)
	if bytes.Equal(e.Value(), val) {
		return
	}
	err = w.call(func(ctx context.Context) error { _, err := b.names.Update(ctx, key, val, e.Revision()); return err })
	if err != nil && !isWrongRevision(err) {
		w.grant(key, pending{name: name, room: room})
	}
}

// release frees key if its entry is this node's. While the cluster is
// unavailable nothing is kept for it: the set-up after the reconnection
// purges this node's entries that the hub no longer holds.
func (w *worker) release(key string) {
	delete(w.granted, key) // not to be written any more (it may have been: deleted below)
	b := w.kv()
	if b == nil {
		return
	}
	if err := w.del(b, key); err != nil {
		w.free(key)
	}
}

// del deletes key if its entry is this node's.
func (w *worker) del(b *buckets, key string) error {
	e, err := w.mine(b, key)
	if err != nil || e == nil {
		return err
	}
	err = w.call(func(ctx context.Context) error {
		return b.names.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
	})
	if isWrongRevision(err) {
		return nil // changed meanwhile: no longer this node's to delete
	}
	return err
}

// retryAll writes what waits in granted and freed: what changed while
// the cluster was unavailable, or failed while it was up. What fails
// again stays for the next retry.
func (w *worker) retryAll(b *buckets) {
	for key := range w.freed {
		if err := w.del(b, key); err == nil {
			delete(w.freed, key)
		}
	}
	for key, g := range w.granted {
		if !w.n.recv.Holds(key) {
			delete(w.granted, key) // left since (its release deletes what was written)
			continue
		}
		ok, holder, err := w.write(b, key, g.name, g.room)
		if err != nil {
			continue
		}
		if !ok {
			w.lost(g.name, holder)
		}
		delete(w.granted, key)
	}
}

// resyncAll runs after a reconnection: it retries, and checks that the
// names of this worker that the hub holds are still this node's in the
// registry (the cluster may have been restarted without its store, or
// have freed them while this node was cut off, or missed an update).
// Members still between their claim and their room are not in the hub's
// list; their claims are written already, or wait in granted.
func (w *worker) resyncAll() {
	b := w.kv()
	if b == nil {
		return
	}
	w.retryAll(b)
	// The hub's names, read under its locks, written without them.
	var held []pending
	seen := make(map[string]struct{})
	w.n.recv.Names(func(name, room string) {
		key := strings.ToLower(name)
		if w.n.worker(key) != w {
			return
		}
		if _, dup := seen[key]; dup {
			return // an authenticated user's other tab
		}
		seen[key] = struct{}{}
		held = append(held, pending{name: name, room: room})
	})
	for _, h := range held {
		key := strings.ToLower(h.name)
		if w.reported(key) {
			continue // found lost just now: its holder is being renamed
		}
		// Most entries are this node's and unchanged: one read each.
		if e, err := w.mine(b, key); err == nil && e != nil && bytes.Equal(e.Value(), w.value(h.room, h.name)) {
			continue
		}
		ok, holder, err := w.write(b, key, h.name, h.room)
		switch {
		case err != nil:
			w.grant(key, h) // the next retry
		case !ok:
			w.lost(h.name, holder)
		}
	}
}

// lost handles a name held here that node holds in the registry: one
// granted during an outage, or that left the registry while this node held
// it and was taken since. The registry's holder keeps it: the hub renames
// the member here (Receiver.Lost), unless it is authenticated (its token's
// name: node is asked to give it up).
// A name is reported once per quarter TTL: the set-up's resync, the
// retry and the claim that the watch's view of the other node's write
// causes may all find it.
func (w *worker) lost(name, node string) {
	key := strings.ToLower(name)
	if w.reported(key) {
		return
	}
	if w.lostNow == nil || len(w.lostNow) >= maxPending {
		w.lostNow = make(map[string]time.Time)
	}
	w.lostNow[key] = time.Now()
	w.n.stats.Conflicts.Add(1)
	w.n.log.Warn("cluster: a name held here is held by another node; renaming its holder here, or reserving it for its token", "name", name, "holder", node)
	w.n.recv.Lost(name, node)
}

// reported reports whether key was found lost (and its holder told) in the
// last quarter TTL.
func (w *worker) reported(key string) bool {
	at, ok := w.lostNow[key]
	return ok && time.Since(at) < w.n.cfg.TTL/4
}

// unreleased records, as the node closes, the names whose release was
// queued or failed and will not be made (Close logs them): the other
// nodes free them within the TTL of the node's goodbye. Worker goroutine.
func (w *worker) unreleased(left []op) {
	u := &w.n.unrel
	add := func(key string) {
		u.mu.Lock()
		if len(u.names) < 10 {
			u.names = append(u.names, key)
		}
		u.count++
		u.mu.Unlock()
	}
	for _, o := range left {
		if o.kind == opRelease {
			add(o.key)
		}
	}
	for k := range w.freed {
		add(k)
	}
	w.mu.Lock()
	q := w.queue
	w.mu.Unlock()
	for _, o := range q { // the node is stopping: nothing is queued any more
		if o.kind == opRelease {
			add(o.key)
		}
	}
}

// unreleasedNames is what the workers could not release as the node
// closed: a count and the first few names.
type unreleasedNames struct {
	mu    sync.Mutex
	names []string
	count int
}

// isWrongRevision reports a failed revision check.
func isWrongRevision(err error) bool {
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists)
}

// owner is the node of a names value, in place (no copy).
func owner(v []byte) []byte {
	node, _, _ := bytes.Cut(v, []byte{' '})
	return node
}

// parseValue splits a names value: "NODE ROOM Name".
func parseValue(v []byte) (node, room, name string) {
	s := string(v)
	node, rest, _ := strings.Cut(s, " ")
	room, name, _ = strings.Cut(rest, " ")
	return node, room, name
}
