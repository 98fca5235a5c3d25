package hub

import (
	"bytes"
	"strconv"
	"strings"
	"time"
)

// helpText answers /help.
const helpText = `commands:
  TEXT               say TEXT to your room
  /nick NAME         change your name (1-32 letters, digits, _ or -)
  /whisper NAME TEXT (or /w) say TEXT to NAME only
  /me ACTION         "* yourname ACTION" to your room
  /join ROOM         move to ROOM (created if new; names as for /nick)
  /leave             go back to the lobby
  /users             who is in your room
  /refresh TOKEN     replace your connect token before it expires
  /history [N]       the last N (default 10) messages of your room
  /help              this text
  //TEXT             say "/TEXT"`

// textLine handles a plain-text message: a chat line, or a command when it
// starts with '/'. Loop only (m's).
func (h *Hub) textLine(m *Member, p []byte) {
	if len(p) == 0 || p[0] != '/' {
		h.say(m, evMessage, p)
		return
	}
	if len(p) > 1 && p[1] == '/' {
		h.say(m, evMessage, p[1:])
		return
	}
	name, arg, _ := bytes.Cut(p[1:], []byte(" "))
	arg = bytes.TrimSpace(arg)
	switch strings.ToLower(string(name)) {
	case "nick":
		h.rename(m, string(arg))
	case "whisper", "w":
		to, text, _ := bytes.Cut(arg, []byte(" "))
		h.whisper(m, string(to), bytes.TrimSpace(text))
	case "me":
		h.say(m, evMe, arg)
	case "join":
		h.join(m, string(arg), resume{})
	case "leave":
		h.leave(m)
	case "users":
		h.listUsers(m)
	case "history":
		h.showHistory(m, string(arg))
	case "help":
		h.help(m)
	case "refresh":
		h.refresh(m, string(arg))
	default:
		h.replyError(m, errUnknownCmd, "unknown command "+quoteShort("/"+string(name))+"; /help lists the commands")
	}
}

// jsonCommand handles a JSON command from a ProtocolJSON client. Its
// "message" text is said as is: a JSON client sends commands as commands
// (or as plain-text lines), never inside a message. A command without a
// field it needs, or with a field of another type than string, is refused
// before anything happens ("bad_request", see checkFields). Loop only
// (m's).
func (h *Hub) jsonCommand(m *Member, p []byte) {
	lr := roomsOf(m.c.Loop())
	cmd, ok := parseCommand(p, &lr.scratch)
	if !ok {
		h.replyError(m, errBadJSON, "not a JSON object; send {\"type\":\"message\",\"text\":\"...\"} or a plain-text line")
		return
	}
	if cmd.typ == nil {
		h.badRequest(m, &cmd, fieldType, "{\"type\":\"message\",\"text\":\"...\"} or a plain-text line")
		return
	}
	if spec, known := jsonCommands[string(cmd.typ)]; known && !h.checkFields(m, &cmd, spec) {
		return
	}
	switch string(cmd.typ) {
	case "message":
		h.say(m, evMessage, cmd.text)
	case "me":
		h.say(m, evMe, cmd.text)
	case "nick":
		h.rename(m, string(cmd.name))
	case "whisper":
		h.whisper(m, string(cmd.to), cmd.text)
	case "join":
		rs, bad := resumeOf(string(cmd.since), string(cmd.epoch))
		if bad {
			h.replyError(m, errUsage, "\"since\" must be a message offset (a whole number)")
			return
		}
		h.join(m, string(cmd.room), rs)
	case "leave":
		h.leave(m)
	case "users":
		h.listUsers(m)
	case "help":
		h.help(m)
	case "refresh":
		h.refresh(m, string(cmd.token))
	default:
		h.replyError(m, errUnknownCmd, "unknown command type "+quoteShort(string(cmd.typ)))
	}
	// A long message's unescaped copy is not kept for the loop's life.
	if cap(lr.scratch) > h.cfg.MaxLine {
		lr.scratch = nil
	}
}

// fieldSpec is what a JSON command needs: the fields it requires (as
// strings), the optional ones it reads (strings if given), and its usage.
type fieldSpec struct {
	need, opt field
	usage     string
}

// jsonCommands are the JSON commands with fields. An empty string is a
// value (an empty "text" is said, as an empty line is); the commands
// answer empty values themselves (usage errors).
var jsonCommands = map[string]fieldSpec{
	"message": {need: fieldText, usage: `{"type":"message","text":"..."}`},
	"me":      {need: fieldText, usage: `{"type":"me","text":"..."}`},
	"nick":    {need: fieldName, usage: `{"type":"nick","name":"NAME"}`},
	"whisper": {need: fieldTo | fieldText, usage: `{"type":"whisper","to":"NAME","text":"..."}`},
	"join":    {need: fieldRoom, opt: fieldEpoch | fieldSince, usage: `{"type":"join","room":"ROOM"}`},
	"refresh": {need: fieldToken, usage: `{"type":"refresh","token":"TOKEN"}`},
}

// checkFields reports whether cmd has the fields spec needs, as strings,
// and its optional ones as strings if given (since: a number or a string);
// if not, m gets a "bad_request" error naming the first field at fault,
// and nothing else happens. No allocation unless refused.
func (h *Hub) checkFields(m *Member, cmd *command, spec fieldSpec) bool {
	bad := cmd.wrong&(spec.need|spec.opt) | spec.need&^cmd.strings()
	if bad == 0 {
		return true
	}
	h.badRequest(m, cmd, bad&-bad, spec.usage) // the lowest bit: fields in declaration order
	return false
}

// badRequest refuses cmd for its field f, missing or of the wrong type.
func (h *Hub) badRequest(m *Member, cmd *command, f field, usage string) {
	what := "is missing"
	switch {
	case cmd.wrong&f != 0 && f == fieldSince:
		what = "must be a number"
	case cmd.wrong&f != 0:
		what = "must be a string"
	}
	h.replyError(m, errBadRequest, `"`+f.String()+`" `+what+"; send "+usage)
}

// strings is the set of cmd's fields given as strings (since: also as a
// number).
func (c *command) strings() (f field) {
	for i, v := range [...][]byte{c.typ, c.text, c.name, c.to, c.room, c.token, c.epoch, c.since} {
		if v != nil {
			f |= 1 << i
		}
	}
	return f
}

// say broadcasts a chat line (evMessage) or a /me action (evMe) to m's
// room, sender included. This is the message path: no lock, no
// allocation, one frame per format. Loop only (m's).
func (h *Hub) say(m *Member, typ string, text []byte) {
	if typ == evMe && len(text) == 0 {
		h.replyError(m, errUsage, "usage: /me ACTION")
		return
	}
	if !h.fits(m, text) || h.refuseMuted(m, m.ri.name) {
		return
	}
	if text == nil {
		text = []byte{} // an empty line still has a "text" (no allocation: zero size)
	}
	ev := event{typ: typ, room: m.ri.name, from: m.name, text: text, ts: time.Now().UnixMilli(), verified: m.id != nil}
	if h.seqr != nil { // delivered when it comes back stored (ReceiveStored)
		h.seqr.Sequence(ev.room, ev.flags(), ev.from, ev.text, ev.ts)
		return
	}
	h.share(&ev, false)
	if h.hist != nil {
		h.sayStored(m.ri, &ev, m.c.ID(), 0)
	} else {
		tf, jf := ev.frames(m.ri)
		h.broadcast(m.ri.name, tf, jf, nil)
	}
	h.emitSaid(&ev)
}

// fits checks text against MaxLine, with an error line when it is over.
func (h *Hub) fits(m *Member, text []byte) bool {
	if len(text) <= h.cfg.MaxLine {
		return true
	}
	h.stats.TooLong.Add(1)
	h.replyError(m, errTooLong, "message too long ("+strconv.Itoa(len(text))+" bytes, limit "+strconv.Itoa(h.cfg.MaxLine)+"); not sent")
	return false
}

// rename gives m the name, if valid, free and not reserved for another
// user's token, and tells the room.
func (h *Hub) rename(m *Member, name string) {
	switch {
	case name == "":
		h.replyError(m, errUsage, "usage: /nick NAME")
		return
	case m.id != nil && !m.id.Nick:
		h.replyError(m, errForbidden, "your name comes from your token, which does not allow /nick")
		return
	case !validName(name):
		h.replyError(m, errInvalidName, invalidName("name", name))
		return
	case h.nameBanned(name):
		h.replyError(m, errBanned, "name "+quoteShort(name)+" is banned")
		return
	case name == m.name:
		h.replyError(m, errNameTaken, "you are already "+name)
		return
	}
	if res, _ := h.claimName(m, name, false); res != nameGranted {
		h.replyError(m, errNameTaken, nameRefused(res, name))
		return
	}
	if h.cl != nil && foldName(name) != foldName(m.name) {
		// Held here; the cluster answers off the loop (renameTask).
		h.cl.Claim(name, m.ri.name, &renameTask{h: h, m: m, name: name})
		return
	}
	h.applyRename(m, name)
}

// applyRename gives m the name it holds (claimed), and tells the room.
func (h *Hub) applyRename(m *Member, name string) {
	old := m.name
	if foldName(old) != foldName(name) { // else claim has respelled m's entry
		if h.release(m, old) && h.cl != nil {
			h.cl.Release(old)
		}
	}
	m.name = name
	h.renameIn(m, name)
	if h.cl != nil {
		h.cl.Update(name, m.ri.name)
	}
	h.presence(m, actRenamed, old, false, nil)
	h.emitMember(EventNick, m, m.ri.name, old)
}

// whisper sends text to the user named to only, and echoes it to m.
// Whispering to oneself is an error: it is almost always a typo'd name.
//
// In a cluster the target may have connections on other nodes: an
// authenticated user's tabs share its name on every node, and the
// registry says only which node holds the name. So a whisper to a user
// of another node, or to an authenticated user of this node, goes to
// every other node (Cluster.SendAll), each of which delivers it to its
// own connections of the name (Receive): every connection gets it once,
// in the sender's order (one publisher per node, and NATS keeps one
// connection's order). An anonymous user of this node is its name's only
// holder in the cluster: no other node is bothered.
func (h *Hub) whisper(m *Member, to string, text []byte) {
	if to == "" || len(text) == 0 {
		h.replyError(m, errUsage, "usage: /whisper NAME TEXT")
		return
	}
	if !h.fits(m, text) || h.refuseMuted(m, "") {
		return
	}
	e := h.lookupEntry(to)
	if e.holds(m) {
		h.replyError(m, errSelfWhisper, "you cannot whisper to yourself")
		return
	}
	toName, remote := e.name, false
	if h.cl != nil {
		if e.m == nil {
			_, toName, remote = h.cl.Lookup(to)
		} else {
			remote = e.auth != nil
		}
	}
	if e.m == nil && !remote {
		h.replyError(m, errUnknownUser, "no user named "+quoteShort(to))
		return
	}
	ev := event{typ: evWhisper, from: m.name, to: toName, text: text, ts: time.Now().UnixMilli(), verified: m.id != nil}
	if remote {
		h.sendRemote("", &ev)
	}
	if e.m != nil {
		h.deliverWhisper(&ev, e.m, e.tabs(), 0)
	}
	h.sendTo(m, ev.frame(m.json))
	h.emitWhisper(&ev) // by the sender's node only
}

// deliverWhisper sends ev to t, this node's holder of its target's name,
// and to the holder's other tabs here; limit is fanout's, and false says
// a loop was behind (a whisper from another node dropped there).
func (h *Hub) deliverWhisper(ev *event, t *Member, tabs []*Member, limit int) bool {
	ok := h.sendToLimit(t, ev.frame(t.json), limit)
	for _, tab := range tabs {
		ok = h.sendToLimit(tab, ev.frame(tab.json), limit) && ok
	}
	h.stats.Whispers.Add(1)
	return ok
}

// join moves m to room (names are case-insensitive: stored lower-case),
// resuming its history from rs.
func (h *Hub) join(m *Member, room string, rs resume) {
	switch {
	case room == "":
		h.replyError(m, errUsage, "usage: /join ROOM")
	case !validName(room):
		h.replyError(m, errInvalidName, invalidName("room name", room))
	case strings.ToLower(room) == m.ri.name:
		h.replyError(m, errSameRoom, "you are already in "+m.ri.name)
	case !m.mayJoin(room):
		h.replyError(m, errForbidden, "your token does not let you join "+quoteShort(strings.ToLower(room)))
	default:
		h.move(m, strings.ToLower(room), rs)
	}
}

// leave moves m back to the lobby.
func (h *Hub) leave(m *Member) {
	if m.ri.name == Lobby {
		h.replyError(m, errSameRoom, "you are already in "+Lobby)
		return
	}
	h.move(m, Lobby, resume{})
}

// move takes m out of its room (telling the room) and into room (telling
// it, m included, and whether the join created it), with the room's
// history from rs to a JSON member. The registry changes at once; m's
// delivery lists change in posted order (see moveTask and moveIn).
func (h *Hub) move(m *Member, room string, rs resume) {
	if h.cl != nil && !h.moveSubscribed(m, room, rs) {
		return // moveTask moves m once the room's subscription is confirmed
	}
	h.moveNow(m, room, rs)
}

// moveNow is move, at once.
func (h *Hub) moveNow(m *Member, room string, rs resume) {
	h.exit(m)
	h.presence(m, actLeft, "", false, m)
	h.emitMember(EventLeave, m, m.ri.name, "")
	created := h.enter(m, room)
	h.emitMember(EventJoin, m, room, "")
	if h.cl != nil {
		h.cl.Update(m.name, room)
	}
	h.moveIn(m, rs, func() { h.presence(m, actJoined, "", created, nil) })
}

// presence tells m.ri (but skip) that m joined, left or was renamed from
// old.
func (h *Hub) presence(m *Member, action, old string, created bool, skip *Member) {
	ri := m.ri
	ev := event{typ: evPresence, action: action, room: ri.name, name: m.name, old: old, created: created, ts: time.Now().UnixMilli(), verified: m.id != nil}
	if ri.json.Load() > 0 {
		ev.members, ev.count, ev.seq = h.roster(ri)
	}
	tf, jf := ev.frames(ri)
	h.broadcast(ri.name, tf, jf, skip)
	h.share(&ev, false)
}

// listUsers answers /users with the members of m's room (their count
// only, over MaxRoster).
func (h *Hub) listUsers(m *Member) {
	ev := event{typ: evUsers, room: m.ri.name}
	ev.members, ev.count, ev.seq = h.roster(m.ri)
	h.sendTo(m, ev.frame(m.json))
}

// help answers /help.
func (h *Hub) help(m *Member) {
	ev := event{typ: evHelp, text: []byte(helpText)}
	h.sendTo(m, ev.frame(m.json))
}
