package hub

import "edgews/engine"

// Cluster-wide names (Config.Cluster set). A name is first claimed on this
// node (Hub.claim, at once, so two users of this node never race), then
// cluster-wide by the Cluster, off the loop; the answer comes back to the
// member's loop as a task, in order with what was posted to it before.

// claimCluster asks the cluster for name, which m holds on this node, as
// the name m connects with. generated says it is not the one the user
// asked for; another node holding the one asked for is told to the user.
func (h *Hub) claimCluster(m *Member, name string, generated bool, a *arrival) {
	h.cl.Claim(name, a.room, func(ok bool) {
		_ = m.c.Loop().Post(&claimTask{h: h, m: m, name: name, ok: ok, generated: generated, a: a})
	})
}

// claimTask brings the cluster's answer to a connecting member's claim.
type claimTask struct {
	h         *Hub
	m         *Member
	name      string
	ok        bool
	generated bool
	a         *arrival
}

func (t *claimTask) Run(*engine.Loop) {
	h, m := t.h, t.m
	if !m.c.Open() {
		return // closed: OnClose releases the name, here and in the cluster
	}
	if t.ok || m.id != nil {
		// An authenticated user keeps its token's name here even if
		// another node holds it (two nodes accepted the same token's
		// name while the cluster was split; hub/cluster counts it).
		h.arriveSubscribed(m, t.a)
		return
	}
	h.release(m, t.name)
	if !t.generated && t.a.refused == nil {
		t.a.refused = &event{typ: evError, code: string(errNameTaken), text: []byte(nameTaken(t.name))}
	}
	m.name = h.generateName(m)
	h.claimCluster(m, m.name, true, t.a)
}

func (t *claimTask) Done() {}

// renameTask brings the cluster's answer to a /nick.
type renameTask struct {
	h    *Hub
	m    *Member
	name string
	ok   bool
}

func (t *renameTask) Run(*engine.Loop) {
	h, m := t.h, t.m
	switch {
	case !m.c.Open():
		h.release(m, t.name)
		if t.ok {
			h.cl.Release(t.name)
		}
	case !t.ok:
		h.release(m, t.name)
		h.replyError(m, errNameTaken, nameTaken(t.name))
	default:
		h.applyRename(m, t.name)
	}
}

func (t *renameTask) Done() {}

// arriveSubscribed puts m into its room once this node's subscription to
// the room is confirmed at NATS (Cluster.WhenSubscribed): without the
// wait, the first broadcasts of other nodes after m's welcome could reach
// NATS before this node's interest, and be lost. The subscription is
// asked for now (it is idempotent; enter asks again when it creates the
// room here), and given back if m leaves before arriving.
func (h *Hub) arriveSubscribed(m *Member, a *arrival) {
	h.cl.Subscribe(a.room)
	if h.cl.WhenSubscribed(a.room, func() { _ = m.c.Loop().Post(&arriveTask{h: h, m: m, a: a}) }) {
		h.chat.arrive(m, h.users.Load()+h.cl.Users(), a)
	}
}

// arriveTask brings m into its room once the room's subscription is
// confirmed.
type arriveTask struct {
	h *Hub
	m *Member
	a *arrival
}

func (t *arriveTask) Run(*engine.Loop) {
	h, m := t.h, t.m
	if !m.c.Open() {
		// Closed meanwhile: the subscription asked for goes unless the
		// room has members here (in order with enter and exit: under s.mu).
		s := h.roomShard(t.a.room)
		s.mu.Lock()
		if s.rooms[t.a.room] == nil {
			h.cl.Unsubscribe(t.a.room)
		}
		s.mu.Unlock()
		return
	}
	h.chat.arrive(m, h.users.Load()+h.cl.Users(), t.a)
}

func (t *arriveTask) Done() {}
