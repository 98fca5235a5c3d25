package hub

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"edgews/codec"
	"edgews/engine"
	"edgews/hub/auth"
)

// Lobby is the room every user starts in.
const Lobby = "lobby"

// chat is the /chat route (see the package doc for the protocol).
type chat struct{ h *Hub }

// Subprotocols makes the engine negotiate ProtocolJSON with clients that
// offer it; the others speak plain text.
func (ch *chat) Subprotocols() []string { return []string{ProtocolJSON} }

func (ch *chat) OnOpen(c *engine.Conn) {
	h := ch.h
	c.SetMaxFrameSize(h.maxFrame)
	c.SetMaxMessageSize(h.maxMessage)
	id, _ := c.Value().(*auth.Identity) // from the upgrade hook; nil: anonymous
	m := &Member{c: c, idx: -1, json: c.Protocol() == ProtocolJSON, id: id}
	h.be.opened.opened(c.ID(), time.Now().Unix())
	if id != nil {
		if !h.claimOwned(m, id.Name) {
			return
		}
		trackToken(c)
	}
	n := h.users.Add(1)
	var refused *event // why the name asked for with ?name= was not given
	if want := c.Request().Query("name"); want != "" && id == nil {
		if !validName(want) {
			refused = &event{typ: evError, code: string(errInvalidName), text: []byte(invalidName("name", want))}
		} else if res, _ := h.claimName(m, want, false); res != nameGranted {
			refused = &event{typ: evError, code: string(errNameTaken), text: []byte(nameRefused(res, want))}
		} else {
			m.name = want
		}
	}
	if m.name == "" {
		m.name = h.generateName(m)
	}
	room, rs, roomRefused := startRoom(m, c.Request())
	c.SetValue(m)
	if h.cl != nil {
		// The name is this node's; the cluster is asked off the loop and
		// the member arrives in its room once it answers (claimTask).
		h.claimCluster(&claimTask{h: h, m: m, name: m.name, generated: refused != nil || c.Request().Query("name") == "",
			a: arrival{refused: refused, room: room, rs: rs, roomRefused: roomRefused}})
		return
	}
	ch.arrive(m, n, &arrival{refused: refused, room: room, rs: rs, roomRefused: roomRefused})
}

// generateName claims a generated name for m on this node. Generated names
// come from one counter, so they are unique across loops; the registry
// still checks, for names chosen by users. In a cluster they are random
// instead (user0 would be taken on every node but the first; the cluster
// claim that follows catches the rare clash).
func (h *Hub) generateName(m *Member) string {
	for {
		var name string
		if h.cl != nil {
			name = "user" + strconv.FormatUint(rand.Uint64N(clusterNames), 10)
		} else {
			name = "user" + strconv.FormatUint(h.nextName.Add(1)-1, 10)
		}
		if !h.nameBanned(name) && h.claim(m, name) {
			return name
		}
	}
}

// clusterNames is how many generated names a cluster draws from.
const clusterNames = 10_000_000

// arrival is where a connecting member goes, and what its welcome says.
type arrival struct {
	refused     *event // why the name asked for with ?name= was not given
	room        string
	rs          resume // history to send from
	roomRefused *event // why the room asked for with ?room= was not given
}

// arrive puts m, named, into its room and greets it as one of n users.
// Loop only (m's).
func (ch *chat) arrive(m *Member, n int64, a *arrival) {
	h := ch.h
	h.enter(m, a.room)
	if h.hist == nil {
		roomsOf(m.c.Loop()).join(m, a.room)
		ch.welcome(m, n, a.refused, a.roomRefused)
	} else {
		// The welcome is written now, the history and the move into the
		// room's delivery list are posted: see moveIn.
		ch.welcome(m, n, a.refused, a.roomRefused)
		h.moveIn(m, a.rs, nil)
	}
	// Connects are announced to JSON clients only, which keep a member
	// list; text clients keep the tutorial's quiet lobby (/users lists it).
	h.presenceJSON(m, actJoined, m.ri)
	h.emitMember(EventConnect, m, m.ri.name, "")
}

// claimOwned gives an authenticated member its token's name: shared with
// its other connections, taken from a holder that does not own it (an
// anonymous one, or a token holder that took it with /nick: renamed, see
// evictTask), and recorded as reserved for its sub (nameHolds). A name
// another user's token holds refuses the connection with 1008: false, and
// the caller stops. Loop only (m's).
func (h *Hub) claimOwned(m *Member, name string) bool {
	res, evicted := h.claimName(m, name, true)
	if res != nameGranted {
		m.c.SetValue(nil) // OnClose has no member to remove
		ev := event{typ: evError, code: string(errNameTaken), text: []byte("name " + quoteShort(name) + " belongs to another user's token")}
		refuse(m, &ev, codec.StatusPolicyViolation, "name held by another user")
		return false
	}
	m.name = name
	h.recordName(m)
	for _, e := range evicted {
		_ = e.c.Loop().Post(&evictTask{h: h, m: e, name: name})
	}
	return true
}

// refuse sends ev to m, in m's format, and closes the connection with
// code and reason: at once, not after what was posted to m. Loop only.
func refuse(m *Member, ev *event, code codec.StatusCode, reason string) {
	line := ev.appendText(nil)
	if m.json {
		line = ev.appendJSON(nil)
	}
	_ = m.c.Send(codec.OpText, line)
	m.c.Close(code, reason)
}

// evictTask renames a member, on its loop, whose name another user has
// the better claim to: the token that names it (a user of this node, or
// of another: evictHolders from Receive), or, when lost, the node the
// cluster's registry gives the name to after an outage (Receiver.Lost).
// The member holds the name without owning it: it is anonymous, or a
// token holder that took it with /nick.
type evictTask struct {
	h    *Hub
	m    *Member
	name string
	lost bool
}

// evictHolders posts an evictTask for each of this node's connections
// holding name without owning it, if any (a token holder keeps its
// token's name).
func (h *Hub) evictHolders(name string, lost bool) {
	for _, m := range h.evictable(name) {
		_ = m.c.Loop().Post(&evictTask{h: h, m: m, name: name, lost: lost})
	}
}

func (t *evictTask) Run(*engine.Loop) {
	h, m := t.h, t.m
	if !holds(m, t.name) {
		return // gone, still arriving (claimTask.arrive renames it), or renamed meanwhile
	}
	old := m.name
	m.name = h.generateName(m)
	h.renameIn(m, m.name)
	why := reservedName(old)
	if t.lost {
		why = "name " + quoteShort(old) + " was taken on another node while this one was cut off from the cluster"
	}
	if h.cl != nil {
		// Evicted for an authenticated user of this node, old stays this
		// node's in the cluster (the user holds it here now, and claims
		// it too): release finds it no longer m's. Evicted for one of
		// another node, old is freed here and in the cluster, and that
		// node claims it (Receiver.Freed). Lost, old is freed here only:
		// the cluster's entry is the other node's.
		if h.release(m, old) && !t.lost {
			h.cl.Release(old)
		}
		h.claimHere(m)
	}
	h.replyError(m, errNameTaken, why+"; you are "+m.name)
	h.presence(m, actRenamed, old, false, nil)
	h.emitMember(EventNick, m, m.ri.name, old)
}

func reservedName(name string) string {
	return "name " + quoteShort(name) + " is reserved for its authenticated user"
}

func (t *evictTask) Done() {}

// startRoom reads the room a client asks to start in (?room=, else the
// lobby) and where to resume its history (?since= and ?epoch=). A room
// name or offset that is not valid is refused with an error event, and
// the client starts in the lobby without resuming; so is a room its token
// does not let it join.
func startRoom(m *Member, r engine.Request) (room string, rs resume, refused *event) {
	room = Lobby
	if want := r.Query("room"); want != "" {
		switch {
		case !validName(want):
			return Lobby, resume{}, &event{typ: evError, code: string(errInvalidName), text: []byte(invalidName("room name", want))}
		case !m.mayJoin(want):
			return Lobby, resume{}, &event{typ: evError, code: string(errForbidden), text: []byte("your token does not let you join " + quoteShort(strings.ToLower(want)))}
		}
		room = strings.ToLower(want)
	}
	rs, bad := resumeOf(r.Query("since"), r.Query("epoch"))
	if bad {
		return Lobby, resume{}, &event{typ: evError, code: string(errUsage), text: []byte("since must be a message offset (a whole number)")}
	}
	return room, rs, nil
}

// welcome greets a newcomer, one of n users, and tells it why the name it
// asked for was refused, if it was, and why the room it asked for was.
// Text clients get the tutorial's line, JSON clients a welcome event with
// their name and their room's members.
func (ch *chat) welcome(m *Member, n int64, refused, roomRefused *event) {
	var buf [64]byte
	greeting := strconv.AppendInt(append(buf[:0], "You are connected! There are "...), n, 10)
	greeting = append(greeting, " users here."...)
	if !m.json {
		_ = m.c.Send(codec.OpText, greeting)
		if refused != nil {
			refused.text = append(refused.text, "; you are "+m.name...)
			_ = m.c.Send(codec.OpText, refused.appendText(nil))
		}
		if roomRefused != nil {
			_ = m.c.Send(codec.OpText, roomRefused.appendText(nil))
		}
		return
	}
	ev := event{typ: evWelcome, name: m.name, room: m.ri.name, text: greeting, users: n, verified: m.id != nil}
	ev.members, ev.count, ev.seq = ch.h.roster(m.ri)
	_ = m.c.Send(codec.OpText, ev.appendJSON(nil))
	if refused != nil {
		_ = m.c.Send(codec.OpText, refused.appendJSON(nil))
	}
	if roomRefused != nil {
		_ = m.c.Send(codec.OpText, roomRefused.appendJSON(nil))
	}
}

func (ch *chat) OnMessage(c *engine.Conn, op codec.OpCode, p []byte) {
	m := c.Value().(*Member)
	if m.kicked || !ch.h.admit(m) {
		return
	}
	if m.ri == nil { // a cluster still claims its name
		ch.h.stats.NotReady.Add(1)
		ch.h.replyError(m, errNotReady, "not ready: wait for the welcome before sending")
		return
	}
	if op != codec.OpText {
		return // the tutorial's chat handles text frames only
	}
	if m.json {
		if q := bytes.TrimLeft(p, " \t\r\n"); len(q) > 0 && q[0] == '{' {
			ch.h.jsonCommand(m, p)
			return
		}
	}
	ch.h.textLine(m, p)
}

func (ch *chat) OnClose(c *engine.Conn, _ codec.StatusCode, _ string) {
	m, _ := c.Value().(*Member)
	if m == nil {
		return
	}
	h := ch.h
	if m.id != nil {
		h.recordName(m) // its last use: the hold against anonymous users starts now
	}
	if m.ri != nil { // else a cluster was still claiming its name
		roomsOf(c.Loop()).leave(m)
		h.exit(m)
		h.presenceJSON(m, actLeft, m.ri)
		h.emitMember(EventDisconnect, m, m.ri.name, "")
	}
	if h.release(m, m.name) && h.cl != nil {
		h.cl.Release(m.name) // after its claim: the cluster keeps their order
	}
	h.users.Add(-1)
}

// presenceJSON tells the JSON members of ri that m connected (joined) or
// disconnected (left); text members are not told (see OnOpen), nor are
// rooms over MaxRoster members.
func (h *Hub) presenceJSON(m *Member, action string, ri *roomInfo) {
	if ri.json.Load() == 0 && h.cl == nil {
		return
	}
	ev := event{typ: evPresence, action: action, room: ri.name, name: m.name, ts: time.Now().UnixMilli(), verified: m.id != nil}
	h.share(&ev, true) // the other nodes' JSON members are told, whatever this node's are
	if ri.json.Load() == 0 {
		return
	}
	if ev.members, ev.count, ev.seq = h.roster(ri); ev.members == nil {
		return
	}
	h.broadcast(ri.name, nil, ev.frame(true), m)
}
