package hub

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"edgews/codec"
	"edgews/engine"
	"edgews/hub/auth"
)

// Bans and mutes. The node's are one immutable modState, replaced whole
// by every change (a change is an API call, or a cluster's watch of its
// key-value store) and read with one atomic load: checking a message
// against the mutes takes no lock, and with none in force costs that
// load only. With mutes in force, a message costs two or four map
// look-ups keyed by the sender's lower-cased name (in a stack buffer:
// no allocation) and sub.

// modState is the bans and mutes in force on the node. Never changed in
// place.
type modState struct {
	bans  map[modKey]Ban
	mutes map[modKey]Mute // keyed with the room

	// The mutes by who, for the message path: lower-cased name or sub ->
	// room ("" for every room) -> until, Unix nanoseconds.
	mutedNames map[string]map[string]int64
	mutedUsers map[string]map[string]int64
}

// modKey identifies a ban (room empty) or a mute.
type modKey struct {
	kind      byte
	who, room string
}

func banKey(t Target) modKey {
	k, v := t.kind()
	return modKey{kind: k, who: v}
}

func muteKey(t Target, room string) modKey {
	k, v := t.kind()
	return modKey{kind: k, who: v, room: room}
}

// update replaces the node's moderation state by what change makes of a
// copy of it (expired entries are dropped on the way). Any goroutine.
func (h *Hub) updateMod(change func(st *modState)) {
	b := &h.be
	b.modMu.Lock()
	defer b.modMu.Unlock()
	now := time.Now()
	st := &modState{bans: make(map[modKey]Ban), mutes: make(map[modKey]Mute)}
	if old := b.mod.Load(); old != nil {
		for k, v := range old.bans {
			if v.Until.After(now) {
				st.bans[k] = v
			}
		}
		for k, v := range old.mutes {
			if v.Until.After(now) {
				st.mutes[k] = v
			}
		}
	}
	change(st)
	if len(st.bans) == 0 && len(st.mutes) == 0 {
		b.mod.Store(nil)
		return
	}
	for k, m := range st.mutes {
		by := &st.mutedNames
		if k.kind == kindUser {
			by = &st.mutedUsers
		}
		if *by == nil {
			*by = make(map[string]map[string]int64)
		}
		rooms := (*by)[k.who]
		if rooms == nil {
			rooms = make(map[string]int64)
			(*by)[k.who] = rooms
		}
		rooms[k.room] = m.Until.UnixNano()
	}
	b.mod.Store(st)
}

// SetBan records a ban on this node (it does not disconnect: see
// DisconnectLocal). t must have been checked (Target.Check).
func (h *Hub) SetBan(b Ban) { h.updateMod(func(st *modState) { st.bans[banKey(b.Target)] = b }) }

// RemoveBan lifts a ban on this node, reporting whether there was one.
func (h *Hub) RemoveBan(t Target) (removed bool) {
	h.updateMod(func(st *modState) {
		_, removed = st.bans[banKey(t)]
		delete(st.bans, banKey(t))
	})
	return removed
}

// SetMute records a mute on this node. m.Target must have been checked.
func (h *Hub) SetMute(m Mute) {
	h.updateMod(func(st *modState) { st.mutes[muteKey(m.Target, m.Room)] = m })
}

// RemoveMute lifts a mute on this node, reporting whether there was one.
func (h *Hub) RemoveMute(t Target, room string) (removed bool) {
	h.updateMod(func(st *modState) {
		_, removed = st.mutes[muteKey(t, room)]
		delete(st.mutes, muteKey(t, room))
	})
	return removed
}

// ReplaceModeration replaces every ban and mute of the node: a cluster
// that read them all again from its store.
func (h *Hub) ReplaceModeration(bans []Ban, mutes []Mute) {
	h.updateMod(func(st *modState) {
		clear(st.bans)
		clear(st.mutes)
		for _, b := range bans {
			st.bans[banKey(b.Target)] = b
		}
		for _, m := range mutes {
			st.mutes[muteKey(m.Target, m.Room)] = m
		}
	})
}

// Moderation lists the bans and the mutes in force on the node, sorted.
func (h *Hub) Moderation() ([]Ban, []Mute) {
	st := h.be.mod.Load()
	bans, mutes := []Ban{}, []Mute{}
	if st == nil {
		return bans, mutes
	}
	now := time.Now()
	for _, b := range st.bans {
		if b.Until.After(now) {
			bans = append(bans, b)
		}
	}
	for _, m := range st.mutes {
		if m.Until.After(now) {
			mutes = append(mutes, m)
		}
	}
	slices.SortFunc(bans, func(a, b Ban) int { return strings.Compare(a.Target.String(), b.Target.String()) })
	slices.SortFunc(mutes, func(a, b Mute) int {
		return strings.Compare(a.Target.String()+" "+a.Room, b.Target.String()+" "+b.Room)
	})
	return bans, mutes
}

// mutedFor is how long m is still muted in room, or by a mute of every
// room (0: not muted). The message path: no lock, no allocation.
func (h *Hub) mutedFor(m *Member, room string) time.Duration {
	st := h.be.mod.Load()
	if st == nil || (st.mutedNames == nil && st.mutedUsers == nil) {
		return 0
	}
	now := time.Now().UnixNano()
	var until int64
	if st.mutedNames != nil {
		var buf [MaxNameLen]byte
		n := copy(buf[:], m.name)
		for i := range n {
			if c := buf[i]; 'A' <= c && c <= 'Z' {
				buf[i] = c + 'a' - 'A'
			}
		}
		if rooms := st.mutedNames[string(buf[:n])]; rooms != nil { // no allocation: a map index
			until = max(rooms[room], rooms[""])
		}
	}
	if st.mutedUsers != nil && m.id != nil {
		if rooms := st.mutedUsers[m.id.Subject]; rooms != nil {
			until = max(until, rooms[room], rooms[""])
		}
	}
	if until <= now {
		return 0
	}
	return time.Duration(until - now)
}

// refuseMuted tells m it is muted, if it is (in room, or everywhere):
// true then, and the message goes nowhere. Loop only (m's).
func (h *Hub) refuseMuted(m *Member, room string) bool {
	left := h.mutedFor(m, room)
	if left == 0 {
		return false
	}
	secs := (left + time.Second - 1) / time.Second
	h.stats.Muted.Add(1)
	h.replyError(m, errMuted, "you are muted for "+strconv.FormatInt(int64(secs), 10)+" s")
	return true
}

// banFor returns the ban on kind/who in force, if any. who is lower-case
// for a name. Any goroutine.
func (h *Hub) banFor(kind byte, who string) (Ban, bool) {
	st := h.be.mod.Load()
	if st == nil || len(st.bans) == 0 || who == "" {
		return Ban{}, false
	}
	b, ok := st.bans[modKey{kind: kind, who: who}]
	if !ok || !b.Until.After(time.Now()) {
		return Ban{}, false
	}
	return b, true
}

// nameBanned reports whether name (any case) is banned.
func (h *Hub) nameBanned(name string) bool {
	_, ok := h.banFor(kindName, foldName(name))
	return ok
}

// bannedUpgrade refuses with 403 the upgrade of a banned client: its IP
// address, the name it asks for, or its token's name or sub. Runs in the
// upgrade hook, on a loop or an upgrade worker.
func (h *Hub) bannedUpgrade(r *engine.Request, id *auth.Identity) *engine.Refusal {
	st := h.be.mod.Load()
	if st == nil || len(st.bans) == 0 {
		return nil
	}
	b, ok := h.banFor(kindIP, r.RemoteAddr.Addr().Unmap().String())
	if !ok && id != nil {
		if b, ok = h.banFor(kindUser, id.Subject); !ok {
			b, ok = h.banFor(kindName, foldName(id.Name))
		}
	}
	if !ok && id == nil {
		if want := r.Query("name"); want != "" {
			b, ok = h.banFor(kindName, foldName(want))
		}
	}
	if !ok {
		return nil
	}
	body := "banned until " + b.Until.UTC().Format(time.RFC3339)
	if b.Reason != "" {
		body += ": " + b.Reason
	}
	h.stats.BannedRefused.Add(1)
	return &engine.Refusal{Status: 403, Body: body, Reason: "banned"}
}

// matches reports whether c, a connection of this node, is t's.
func matches(c *engine.Conn, t Target) bool {
	switch k, v := t.kind(); k {
	case kindIP:
		return c.RemoteAddr().Addr().Unmap().String() == v
	case kindUser:
		switch x := c.Value().(type) {
		case *Member:
			return x.id != nil && x.id.Subject == v
		case *auth.Identity:
			return x.Subject == v // /echo with a token
		}
	case kindName:
		m, _ := c.Value().(*Member)
		return m != nil && foldName(m.name) == v
	}
	return false
}

// DisconnectLocal closes, on their loops, every connection of this node
// that is t's, with code and reason, and reports how many it closed. t
// must have been checked (Target.Check).
func (h *Hub) DisconnectLocal(ctx context.Context, t Target, code uint16, reason string) (int, error) {
	counts, err := collect(ctx, h, func(l *engine.Loop) []int {
		k := 0
		l.EachConn(func(c *engine.Conn) {
			if c.Open() && matches(c, t) {
				c.Close(codec.StatusCode(code), reason)
				k++
			}
		})
		return []int{k}
	})
	n := 0
	for _, k := range counts {
		n += k
	}
	return n, err
}

// DefaultDisconnectCode is the close code of Control.Disconnect when none
// is given: a client may reconnect (the chat page does, after a pause;
// 4500-4999 tell it not to).
const DefaultDisconnectCode = 4000

// BanCode and BanReason close a banned user's connections: a policy
// violation, which the chat page does not reconnect after.
const (
	BanCode   = 1008
	BanReason = "banned"
)

// maxBanReason bounds a ban's reason (it is sent in the 403's body).
const maxBanReason = 256

// CheckUnmute validates an unmute's target and room.
func CheckUnmute(t Target, room string) (Target, string, error) {
	t, err := t.Check(false)
	if err == nil && room != "" {
		room, err = CheckRoom(room)
	}
	return t, room, err
}

// CheckMute validates a mute (a name or a user, a room or none, an Until
// to come) and returns it normalised (see Target.Check).
func CheckMute(m Mute) (Mute, error) {
	var err error
	if m.Target, m.Room, err = CheckUnmute(m.Target, m.Room); err != nil {
		return m, err
	}
	if !m.Until.After(time.Now()) {
		return m, BadRequest(`"ttl" must be a positive duration, such as "30s" or "10m"`)
	}
	return m, nil
}

// CheckBan validates a ban (a name, a user or an IP address, an Until to
// come, a short reason) and returns it normalised.
func CheckBan(b Ban) (Ban, error) {
	t, err := b.Target.Check(true)
	if err != nil {
		return b, err
	}
	b.Target = t
	switch {
	case !b.Until.After(time.Now()):
		return b, BadRequest(`"ttl" must be a positive duration, such as "30s" or "10m"`)
	case len(b.Reason) > maxBanReason || !utf8.ValidString(b.Reason):
		return b, BadRequest(`"reason" must be valid UTF-8 of at most 256 bytes`)
	}
	return b, nil
}
