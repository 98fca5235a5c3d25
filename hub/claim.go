package hub

import (
	"edgews/codec"
	"edgews/engine"
)

// Cluster-wide names (Config.Cluster set). A name is first claimed on this
// node (Hub.claim, at once, so two users of this node never race), then
// cluster-wide by the Cluster, off the loop; the answer comes back to the
// member's loop as a task, in order with what was posted to it before.

// claimCluster asks the cluster for t.name, which t.m holds on this node,
// as the name it connects with. t.generated says it is not the one the
// user asked for; another node holding the one asked for is told to the
// user. t is the claim's only allocation: the cluster's answer posts it
// to the member's loop, and so does the room's subscription after it.
func (h *Hub) claimCluster(t *claimTask) {
	h.cl.Claim(t.name, t.a.room, t)
}

// claimTask carries a connecting member from its claim to its room: it
// brings the cluster's answer to the member's loop (Claimed), then waits
// there for the room's subscription if it is not confirmed yet
// (arriveSubscribed, Subscribed).
type claimTask struct {
	h         *Hub
	m         *Member
	name      string
	node      string // the holder's, with ClaimTaken
	res       ClaimResult
	generated bool
	arriving  bool // the claim is done: Run puts m into its room
	a         arrival
}

// Claimed implements Claimant: the answer, from the cluster's goroutine.
func (t *claimTask) Claimed(res ClaimResult, node string) {
	t.res, t.node = res, node
	_ = t.m.c.Loop().Post(t)
}

// Subscribed implements Waiter: the room's subscription is confirmed.
func (t *claimTask) Subscribed() {
	t.arriving = true
	_ = t.m.c.Loop().Post(t)
}

func (t *claimTask) Run(*engine.Loop) {
	h, m := t.h, t.m
	if t.arriving {
		if !m.c.Open() {
			h.dropHold(t.a.room) // closed meanwhile
			return
		}
		t.arrive()
		return
	}
	if !m.c.Open() {
		return // closed: OnClose releases the name, here and in the cluster
	}
	if t.res == ClaimGranted || t.res == ClaimTaken && m.id != nil {
		// An authenticated user keeps its token's name here even if
		// another node holds it: its other tab (the names are shared),
		// or an anonymous user there, whose node is asked to give the
		// name up (evReserve, once the user has arrived) and then frees
		// it for this node to claim (Receiver.Freed).
		h.arriveSubscribed(t)
		return
	}
	// Not granted: the name is given back here, and after a busy claim
	// in the cluster too (an attempt may have written it before its
	// answer was lost; the release deletes it only if it is this node's).
	if h.release(m, t.name) && t.res == ClaimBusy {
		h.cl.Release(t.name)
	}
	if t.res == ClaimBusy && (t.generated || m.id != nil) {
		// Even a generated name could not be checked, or the token's
		// name, which is the user's only one: the name service is
		// overloaded. The user is told so and may reconnect; a retry here
		// would keep it waiting for as long as the overload lasts, and an
		// authenticated user let in unregistered could see another node
		// give its name to someone else.
		ev := t.a.refused // why the name asked for was not given, if one was
		if ev == nil {
			ev = &event{typ: evError, code: string(errNameBusy), text: []byte(nameBusy(t.name))}
		}
		refuse(m, ev, codec.StatusTryAgainLater, "name service busy, try again")
		return
	}
	if !t.generated && t.a.refused == nil {
		code, text := claimRefusal(t.res, t.name)
		t.a.refused = &event{typ: evError, code: string(code), text: []byte(text)}
	}
	m.name = h.generateName(m)
	t.name, t.generated = m.name, true
	h.claimCluster(t)
}

func (t *claimTask) Done() {}

// renameTask brings the cluster's answer to a /nick.
type renameTask struct {
	h    *Hub
	m    *Member
	name string
	res  ClaimResult
}

// Claimed implements Claimant.
func (t *renameTask) Claimed(res ClaimResult, _ string) {
	t.res = res
	_ = t.m.c.Loop().Post(t)
}

func (t *renameTask) Run(*engine.Loop) {
	h, m := t.h, t.m
	switch {
	case !m.c.Open():
		if h.release(m, t.name) && t.res != ClaimTaken {
			h.cl.Release(t.name) // granted, or maybe written by a busy claim
		}
	case t.res != ClaimGranted:
		if h.release(m, t.name) && t.res == ClaimBusy {
			h.cl.Release(t.name)
		}
		code, text := claimRefusal(t.res, t.name)
		h.replyError(m, code, text)
	default:
		h.applyRename(m, t.name)
	}
}

func (t *renameTask) Done() {}

// arriveSubscribed puts t.m into its room once this node's subscription
// to the room is confirmed at NATS (Cluster.WhenSubscribed): without the
// wait, the first broadcasts of other nodes after its welcome could reach
// NATS before this node's interest, and be lost. The member holds the
// room from now on (holdRoom): the room's last member leaving before it
// arrives does not unsubscribe, so the subscription confirmed stays live
// until the welcome. The hold is given back if the member leaves first.
func (h *Hub) arriveSubscribed(t *claimTask) {
	h.holdRoom(t.a.room)
	if h.cl.WhenSubscribed(t.a.room, t) {
		t.arrive()
	}
}

// arrive puts t.m into its room, greeted with the cluster-wide count. An
// anonymous member whose name an authenticated user of this node took
// while it was arriving (claimName evicted it; evictTask leaves a member
// not yet in a room to this task) arrives under a generated name, told
// why, and claims that name once in its room.
func (t *claimTask) arrive() {
	h, m := t.h, t.m
	evicted := false
	if holder, _, _ := h.lookup(m.name); holder != m && m.id == nil {
		old := m.name
		m.name = h.generateName(m)
		t.a.refused = &event{typ: evError, code: string(errNameTaken), text: []byte(reservedName(old))}
		evicted = true
	}
	h.chat.arrive(m, h.users.Load()+h.cl.Users(), &t.a)
	if evicted {
		h.claimHere(m)
	}
	if t.res == ClaimTaken {
		// A token's name another node holds: asked for now that the
		// room's subscription is live, so that the user sees the holder
		// there renamed.
		h.sendRemote(t.node, &event{typ: evReserve, to: t.name})
	}
}

// moveSubscribed reports whether m may move to room now: whether this
// node's subscription to room is confirmed at NATS. If not, m stays where
// it is until it is (joinTask moves it), for the reason arriveSubscribed
// waits, holding the room as it does; another /join or /leave meanwhile
// is refused as not ready.
func (h *Hub) moveSubscribed(m *Member, room string, rs resume) bool {
	lr := roomsOf(m.c.Loop())
	if _, ok := lr.joining[m]; ok {
		h.replyError(m, errNotReady, "not ready: wait for your last join to finish")
		return false
	}
	h.holdRoom(room)
	if h.cl.WhenSubscribed(room, &joinTask{h: h, m: m, room: room, rs: rs}) {
		return true
	}
	if lr.joining == nil {
		lr.joining = make(map[*Member]struct{})
	}
	lr.joining[m] = struct{}{}
	return false
}

// joinTask moves m once the subscription to its new room is confirmed.
type joinTask struct {
	h    *Hub
	m    *Member
	room string
	rs   resume
}

// Subscribed implements Waiter.
func (t *joinTask) Subscribed() { _ = t.m.c.Loop().Post(t) }

func (t *joinTask) Run(l *engine.Loop) {
	h, m := t.h, t.m
	delete(roomsOf(l).joining, m)
	if !m.c.Open() {
		h.dropHold(t.room)
		return
	}
	if !m.mayJoin(t.room) {
		// A /refresh meanwhile took the room away (and, if it took the
		// one m is in too, moved m to the lobby).
		h.replyError(m, errForbidden, "your token does not let you join "+quoteShort(t.room))
		h.dropHold(t.room)
		return
	}
	h.moveNow(m, t.room, t.rs)
}

func (t *joinTask) Done() {}

// claimHere claims m's name in the cluster for this node without waiting
// for the answer (Claim with no Claimant): a name m holds here already,
// generated after a rename (granted at once: a clash with another node's
// random name is astronomically rare), or that left the registry while m
// held it (reclaimTask). The cluster writes it as soon as its registry
// answers and reports another holder through Lost. Loop only.
func (h *Hub) claimHere(m *Member) {
	h.cl.Claim(m.name, m.ri.name, nil)
}

// Holds implements Receiver.
func (h *Hub) Holds(name string) bool {
	m, _, _ := h.lookup(name)
	return m != nil
}

// Lost implements Receiver: the members holding name without owning it
// (anonymous, or by /nick) are renamed on their loops (evictTask); a
// token holder keeps its token's name, and node, which holds it in the
// registry, is asked to give it up (evReserve) and then frees it for this
// node to claim (Freed), as when the user connects.
func (h *Hub) Lost(name, node string) {
	if m, _, _ := h.lookup(name); m != nil && h.evictable(name) == nil {
		h.sendRemote(node, &event{typ: evReserve, to: name})
		return
	}
	h.evictHolders(name, true)
}

// holds reports whether m is open, in its room and named name: the loop
// tasks that rename or claim for a member act only on one still so. Loop
// only.
func holds(m *Member, name string) bool {
	return m.c.Open() && m.ri != nil && foldName(m.name) == foldName(name)
}

// Freed implements Receiver: a member of this node holding name claims it
// for this node, on its loop (reclaimTask): another node freed it (its
// holder was another tab of the same user), or this node's own entry was
// deleted while the member held it.
func (h *Hub) Freed(name string) {
	if m, _, _ := h.lookup(name); m != nil {
		_ = m.c.Loop().Post(&reclaimTask{h: h, m: m, name: name})
	}
}

// reclaimTask claims for this node a name its member holds, which left
// the registry.
type reclaimTask struct {
	h    *Hub
	m    *Member
	name string
}

func (t *reclaimTask) Run(*engine.Loop) {
	if holds(t.m, t.name) {
		t.h.claimHere(t.m)
	}
}

func (t *reclaimTask) Done() {}
