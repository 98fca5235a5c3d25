package hub

import (
	"hash/maphash"
	"sync"
)

// remoteOwner marks the history owner of another node's sender (a hash of
// its name), apart from this node's connection ids, which count from 1.
const remoteOwner = 1 << 63

// Cluster joins a hub to the other nodes of a cluster: hub/cluster
// implements it over NATS. A hub without one (Config.Cluster nil) is a
// single node and never calls into it.
//
// Every method is safe from any goroutine and returns at once: network
// work happens on the implementation's own goroutines, so an event loop
// never waits on another node. Names are compared case-insensitively
// (the implementation keys them by foldName's lower case).
type Cluster interface {
	// Attach is called once by New, before any other method, with the hub
	// that receives the other nodes' events.
	Attach(r Receiver)

	// Publish sends msg (a room event in the wire form, see wire.go) to
	// the other nodes that have members in room. msg is valid during the
	// call only. Delivery is at most once; a message that cannot be
	// queued is dropped and counted, never waited for.
	Publish(room string, msg []byte)
	// SendTo sends msg (a reservation) to one node, as Publish does.
	SendTo(node string, msg []byte)
	// SendAll sends msg (a whisper) to every other node, as Publish does,
	// in order with Publish and SendTo: each node delivers a whisper to
	// its own connections of the target, so that every tab of an
	// authenticated user gets it, whichever node holds the name.
	SendAll(msg []byte)
	// Subscribe and Unsubscribe start and stop the delivery of room's
	// events to this node. The hub subscribes when a room gets its first
	// member on this node and unsubscribes when its last one leaves.
	Subscribe(room string)
	Unsubscribe(room string)
	// WhenSubscribed reports whether NATS has confirmed this node's
	// subscription to room, with no change to it pending. If not, it
	// returns false and calls ready once, from another goroutine, when
	// the pending change is done (or NATS is away: it never waits out an
	// outage). A welcome waits for it: a member is promised every message
	// sent after its welcome, and another node's broadcast reaches this
	// node only once the server knows its interest.
	WhenSubscribed(room string, ready Waiter) bool

	// Claim asks for name, for a user in room, cluster-wide.
	// done.Claimed is called once, from another goroutine: ClaimTaken if
	// a user of another node holds the name (and that node's id),
	// ClaimBusy if the cluster is up but its registry did not answer in
	// time (granting the name then could give it to two users; an attempt
	// may have written it: the hub releases a name it does not keep).
	// When the cluster is known to be unavailable it answers ClaimGranted
	// (the name is then unique on this node only) and claims the name
	// again once the cluster is back.
	//
	// done may be nil, for a name a member of this node holds and keeps
	// whatever the answer (a name freed by another node, or deleted from
	// the registry while this node held it): the Cluster writes it as soon
	// as the registry answers, and reports another node holding it through
	// Receiver.Lost.
	Claim(name, room string, done Claimant)
	// Update records the room, or the spelling, of a name this node
	// holds.
	Update(name, room string)
	// Release frees a name this node holds.
	Release(name string)

	// Users is the number of users on the other nodes.
	Users() int64
	// Roster appends the names of room's members on the other nodes to
	// names and returns it with their count. It may lag the other nodes
	// by a bounded time (see docs/deploy.md).
	Roster(room string, names []string) ([]string, int)
	// Lookup finds a user of another node: the node's id and the name as
	// its owner spells it; ok is false if no other node has the user.
	Lookup(name string) (node, spelled string, ok bool)
}

// A Claimant receives the answer to a Cluster.Claim, and a Waiter is told
// that a room's subscription is confirmed (Cluster.WhenSubscribed). They
// are interfaces, not functions, so that a connecting member's claim is
// one object, also the task posted to its loop (claimTask): a connect in a
// cluster allocates no callbacks, and what it allocates is garbage that
// lands among the connections' long-lived state, where it is paid for in
// memory after it is freed (docs/deploy.md, 8. Cluster over NATS, Sizing).
type (
	Claimant interface {
		// Claimed is the answer; node is the holder's with ClaimTaken.
		Claimed(res ClaimResult, node string)
	}
	Waiter interface{ Subscribed() }
)

// ClaimFunc is a function as a Claimant (it is not told the holder's
// node).
type ClaimFunc func(ClaimResult)

// Claimed implements Claimant.
func (f ClaimFunc) Claimed(res ClaimResult, _ string) { f(res) }

// ClaimResult is a Cluster's answer to a name claim.
type ClaimResult uint8

// Claim results.
const (
	ClaimGranted ClaimResult = iota // the name is this node's
	ClaimTaken                      // a user of another node holds it
	ClaimBusy                       // the registry did not answer in time: neither granted nor taken, try again
)

// Receiver is what a Cluster calls on its hub: *Hub implements it.
type Receiver interface {
	// Receive handles a message from another node (Cluster.Publish,
	// SendTo or SendAll). msg is valid during the call only. Calls come from
	// one goroutine at a time, in the order the messages arrived. It
	// reports false if an event loop was too far behind to take the
	// message (Config.ClusterBacklog): dropped there, for the Cluster to
	// count with its own arrival drops.
	Receive(msg []byte) bool
	// Names calls yield with the name and the room of every member in a
	// room on this node (an authenticated user's tabs each), under the
	// hub's locks: yield must not call the hub. The Cluster reads what
	// this node holds from it when it must write it again (after an
	// outage) instead of keeping its own copy per user.
	Names(yield func(name, room string))
	// Holds reports whether a member of this node holds name, in a room
	// or on its way into one. The Cluster asks before it deletes an entry
	// of this node's that it finds in the registry with no user behind it
	// (left by releases it could not make). Called like Lost.
	Holds(name string) bool
	// Lost says that name, held by a member of this node, is node's in
	// the cluster: granted here while the cluster was unreachable and
	// taken there meanwhile, or taken there after it left the registry
	// while this node held it (freed while this node was cut off, or
	// deleted by a janitor that thought this node gone). Names are unique
	// cluster-wide, so a holder that does not own the name (anonymous, or
	// a token holder that took it with /nick) is renamed (with an error
	// event saying why, as a refused /nick would); a token holder keeps
	// its token's name, and node is asked to give it up (a reservation,
	// as when the user connects). Called from the Cluster's goroutines,
	// not under the hub's locks.
	Lost(name, node string)
	// Freed says that name has left the registry, or that another node
	// wrote it. If a member of this node holds it (another tab of an
	// authenticated user whose first tab, on that node, held the entry;
	// or this node's own user, whose entry was deleted or taken over by a
	// node that thought this one gone), the hub claims it for this node
	// again (Cluster.Claim with no Claimant: written, or Lost): the name
	// stays reserved cluster-wide while any of its holders is connected,
	// and never has two holders. Called like Lost.
	Freed(name string)
}

// wireBufs holds the scratch buffers that events are encoded into for the
// cluster; the cluster copies them.
var wireBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// share sends a room event to the other nodes (nothing without a
// cluster). jsonOnly marks a presence meant for JSON members only.
func (h *Hub) share(ev *event, jsonOnly bool) {
	if h.cl == nil {
		return
	}
	bp := wireBufs.Get().(*[]byte)
	*bp = ev.appendWire((*bp)[:0], jsonOnly)
	h.cl.Publish(ev.room, *bp)
	wireBufs.Put(bp)
}

// sendRemote sends a reservation to another node, or a whisper to every
// other node (node "").
func (h *Hub) sendRemote(node string, ev *event) {
	bp := wireBufs.Get().(*[]byte)
	*bp = ev.appendWire((*bp)[:0], false)
	if node == "" {
		h.cl.SendAll(*bp)
	} else {
		h.cl.SendTo(node, *bp)
	}
	wireBufs.Put(bp)
}

// Names implements Receiver.
func (h *Hub) Names(yield func(name, room string)) {
	for _, s := range h.rooms {
		s.mu.Lock()
		for _, ri := range s.rooms {
			for _, name := range ri.members {
				yield(name, ri.name)
			}
		}
		s.mu.Unlock()
	}
}

// Receive implements Receiver: a room event of another node is encoded
// once per format read by this node's members of the room and fanned out
// through the loops as a local broadcast is, except to a loop with
// Config.ClusterBacklog tasks waiting already (dropped there: false); a
// whisper goes to this node's connections of its target, if it has any
// (every node gets every whisper to another node's user: see whisper).
func (h *Hub) Receive(msg []byte) bool {
	ev, jsonOnly, err := parseWire(msg)
	if err != nil {
		h.stats.ClusterDropped.Add(1)
		return true
	}
	if ev.typ == evReserve {
		h.reserved(ev.to)
		return true
	}
	if ev.typ == evWhisper {
		if t, toName, tabs := h.lookup(ev.to); t != nil {
			ev.to = toName
			return h.deliverWhisper(&ev, t, tabs, h.cfg.ClusterBacklog)
		}
		return true
	}
	if h.seqr != nil && ev.typ != evPresence {
		// This node's chat comes stored, from the cluster's history
		// (ReceiveStored): a chat message over core NATS is from a node
		// that keeps its own history (not started with the shared one).
		// Its offsets would be this node's invention: dropped, counted.
		h.unshared()
		return true
	}
	ri := h.roomInfo(ev.room)
	if ri == nil {
		return true // its last member here left while the message was on its way
	}
	if ev.typ == evPresence && ri.json.Load() > 0 {
		if ev.members, ev.count, ev.seq = h.roster(ri); ev.members == nil && jsonOnly {
			return true
		}
	}
	if h.hist != nil && ev.typ != evPresence {
		// Each node's history keeps the other nodes' messages too, in the
		// order this node delivered them; each sender's share of it is
		// counted by its name (its connection is on another node).
		owner := maphash.String(h.seed, ev.from) | remoteOwner
		if ev.typ == evNotice {
			owner = 0 // the application's, as on the node it was published on (notice.go)
		}
		return h.sayStored(ri, &ev, owner, h.cfg.ClusterBacklog)
	}
	var tf, jf *Frame
	if jsonOnly {
		if ri.json.Load() > 0 {
			jf = ev.frame(true)
		}
	} else {
		tf, jf = ev.frames(ri)
	}
	return h.fanout(ri.name, tf, jf, nil, h.cfg.ClusterBacklog)
}

// unshared counts a chat message from a node without the shared history,
// and says so in the log the first time.
func (h *Hub) unshared() {
	if h.stats.HistoryUnshared.Add(1) == 1 {
		h.cfg.Logger.Warn("hub: a chat message came from a node that keeps its own history, in a cluster whose history is shared: dropped (start every node with the shared history)")
	}
}

// reserved handles a reservation from another node, whose token holder
// connected with name, or found it held here: this node's holders that do
// not own it (anonymous, or by /nick) give it up (evictTask frees it here
// and in the cluster, and the user's node claims it: Receiver.Freed).
// With no holder here, an entry this node left in the registry for name
// is released.
func (h *Hub) reserved(name string) {
	if m, _, _ := h.lookup(name); m == nil {
		h.cl.Release(name)
		return
	}
	h.evictHolders(name, false)
}
