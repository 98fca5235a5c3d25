package hub

import (
	"slices"
	"strings"
	"time"

	"edgews/codec"
	"edgews/engine"
	"edgews/hub/auth"
)

// authRefusals are the HTTP answers to refused tokens, one per reason,
// built once: a refusal allocates nothing, and its text never holds the
// token. Missing tokens get RFC 6750's invalid_request, the others
// invalid_token.
var authRefusals = func() (rs [auth.NumReasons]*engine.Refusal) {
	for r := range rs {
		reason := auth.Reason(r)
		code := "invalid_token"
		if reason == auth.ReasonMissing {
			code = "invalid_request"
		}
		rs[r] = &engine.Refusal{
			Status: 401,
			Header: []string{`WWW-Authenticate: Bearer error="` + code + `"`},
			Body:   (&auth.Error{Reason: reason}).Error(),
			Reason: "auth_" + reason.String(),
		}
	}
	return rs
}()

// Verifier is Config.Auth (nil if unset), for metrics exporters.
func (h *Hub) Verifier() *auth.Verifier { return h.cfg.Auth }

// authOn reports whether connections are checked for tokens.
func (h *Hub) authOn() bool { return h.cfg.Auth != nil && h.cfg.Auth.Mode() != auth.Off }

// upgrade is the engine's upgrade hook for /chat and /echo: with auth on,
// it verifies the request's token and attaches its *auth.Identity to the
// connection, or refuses the upgrade with 401; a banned client (its
// address, the name it asks for, its token's name or sub) is refused
// with 403 (moderation.go). It runs on the loop, or on
// the engine's upgrade workers (engine.Config.UpgradeWorkers): it reads
// only the request and the Verifier, which is safe for concurrent use.
func (h *Hub) upgrade(r *engine.Request) (any, *engine.Refusal) {
	if !h.authOn() {
		return nil, h.bannedUpgrade(r, nil)
	}
	v := h.cfg.Auth
	tok, err := auth.TokenFrom(r.RawQuery, r.Header("Authorization"))
	// The connection keeps its query for Conn.Request: not the token.
	r.RawQuery = auth.WithoutToken(r.RawQuery)
	if err == nil && tok == "" && v.Mode() == auth.Optional {
		return nil, h.bannedUpgrade(r, nil) // anonymous
	}
	var id *auth.Identity
	if err == nil {
		id, err = v.Verify(tok)
	}
	if err != nil {
		reason := auth.ReasonMalformed
		if e, ok := err.(*auth.Error); ok {
			reason = e.Reason
		}
		return nil, authRefusals[reason]
	}
	return id, h.bannedUpgrade(r, id)
}

// Upgrade implements engine.Upgrader: see upgrade.
func (ch *chat) Upgrade(r *engine.Request) (any, *engine.Refusal) { return ch.h.upgrade(r) }

// authEcho is /echo behind the same token check as /chat; its
// authenticated connections are closed at expiry as chat members are.
type authEcho struct {
	Echo
	h *Hub
}

func (e authEcho) Upgrade(r *engine.Request) (any, *engine.Refusal) { return e.h.upgrade(r) }

func (e authEcho) OnOpen(c *engine.Conn) {
	if c.Value() != nil {
		trackToken(c)
	}
}

// sub is the member's authenticated identity, or "" if anonymous.
func (m *Member) sub() string {
	if m.id == nil {
		return ""
	}
	return m.id.Subject
}

// refresh replaces m's token by a fresh one for the same sub, which
// postpones the close at expiry. Loop only (m's).
func (h *Hub) refresh(m *Member, tok string) {
	switch {
	case !h.authOn():
		h.replyError(m, errUnknownCmd, "authentication is off on this node; there is nothing to refresh")
		return
	case tok == "":
		h.replyError(m, errUsage, "usage: /refresh TOKEN")
		return
	case m.id == nil:
		h.replyError(m, errForbidden, "you connected without a token; reconnect with one")
		return
	}
	id, err := h.cfg.Auth.Verify(tok)
	if err == nil && id.Subject != m.id.Subject {
		err = &auth.Error{Reason: auth.ReasonSubjectChanged}
	}
	if err != nil {
		h.replyError(m, errInvalidToken, "refresh refused: "+err.Error())
		return
	}
	m.id = id // the name stays; nick and rooms follow the new token
	h.recordName(m)
	text := "token refreshed"
	if id.Expires != 0 {
		text += "; it expires at " + time.Unix(0, id.Expires).UTC().Format(time.RFC3339)
	}
	ev := event{typ: evRefreshed, text: []byte(text)}
	h.sendTo(m, ev.frame(m.json))
	if !m.mayJoin(m.ri.name) {
		// The new rooms claim applies now, not at the next /join: the
		// member leaves the room it may no longer read, at once (not
		// after the cluster confirms the lobby's subscription, as a /join
		// waits: see moveSubscribed). A /join still waiting for its room
		// is checked again when it runs (joinTask).
		h.replyError(m, errForbidden, "your new token does not let you stay in "+quoteShort(m.ri.name)+"; back to the "+Lobby)
		h.moveNow(m, Lobby, resume{})
	}
}

// sweepExpired closes, with 1008 "token expired", the connections of l
// whose token expired (beyond the leeway) without a refresh: every
// authenticated connection, chat members (whatever their room, also
// while a cluster claims their name) and /echo alike. It runs from the
// engine's timer sweep: no timer or goroutine per connection. Loop only.
func (h *Hub) sweepExpired(l *engine.Loop) {
	lr, _ := l.Local.(*loopRooms)
	if lr == nil || len(lr.tokens) == 0 {
		return
	}
	v := h.cfg.Auth
	deadline := v.Now().Add(-v.Leeway()).UnixNano() // expired before this
	kept := lr.tokens[:0]
	for _, c := range lr.tokens {
		if !c.Open() {
			continue // closing or closed: its place goes now (see trackToken)
		}
		if exp := expiresOf(c); exp != 0 && exp < deadline {
			c.Close(codec.StatusPolicyViolation, "token expired")
			continue
		}
		kept = append(kept, c)
	}
	clear(lr.tokens[len(kept):])
	if cap(kept) > 1024 && len(kept) < cap(kept)/4 {
		kept = slices.Clone(kept) // a wave of connections left
	}
	lr.tokens = kept
}

// expiresOf is when the token of c, an authenticated connection, expires
// (Unix nanoseconds; 0: never): a chat member's current one (/refresh
// replaces it), or the one /echo was opened with.
func expiresOf(c *engine.Conn) int64 {
	switch v := c.Value().(type) {
	case *Member:
		if v.id != nil {
			return v.id.Expires
		}
	case *auth.Identity:
		return v.Expires
	}
	return 0
}

// trackToken adds c, an authenticated connection, to its loop's list that
// sweepExpired walks. A slice, not a set: 8 bytes per connection, walked
// in order; a closed connection is not taken out by OnClose (it has no
// index to find it by) but by the next sweep, which skips and drops what
// is no longer open (a Conn is never reused). Loop only.
func trackToken(c *engine.Conn) {
	lr := roomsOf(c.Loop())
	lr.tokens = append(lr.tokens, c)
}

// mayJoin applies the rooms claim of an authenticated member. The lobby
// is always allowed: it is where everyone starts and goes back to
// (/leave, or a /refresh that takes the member's room away).
func (m *Member) mayJoin(room string) bool {
	if m.id == nil {
		return true
	}
	room = strings.ToLower(room)
	return room == Lobby || m.id.MayJoin(room)
}
