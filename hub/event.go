package hub

import (
	"strconv"

	"edgews/codec"
)

// Event types: the "type" of a ProtocolJSON event.
const (
	evWelcome   = "welcome"   // to a newcomer: its name, room, the greeting, the room's members
	evMessage   = "message"   // a chat line to the room
	evMe        = "me"        // a /me action to the room
	evWhisper   = "whisper"   // a private message, to its target and echoed to its sender
	evPresence  = "presence"  // joined, left, renamed, to the room
	evUsers     = "users"     // the answer to /users
	evHelp      = "help"      // the answer to /help
	evError     = "error"     // a refused command or message, to its sender
	evRefreshed = "refreshed" // the answer to a good /refresh
	evHistory   = "history"   // a room's recent messages, to who enters it or asks
	evNotice    = "notice"    // the server's (the application's, Control.Publish) text to a room
	evDeleted   = "deleted"   // a message removed from the room's history (Control.Delete), to JSON clients

	// evReserve travels between nodes only (wire.go), never to a client:
	// the name in to is an authenticated user's, give it up here.
	evReserve = "reserve"
)

// Presence actions: the "event" of a presence event.
const (
	actJoined  = "joined"
	actLeft    = "left"
	actRenamed = "renamed"
)

// event is one server-to-client chat event, rendered either as a text line
// or as a ProtocolJSON object. Senders build it on the stack; text may
// point into the message being handled, so it is read only while encoding.
type event struct {
	typ      string
	action   string // presence: actJoined, actLeft, actRenamed
	code     string // error: an errCode
	room     string
	from     string   // message, me, whisper
	to       string   // whisper
	name     string   // presence and welcome: whose (the new name when renamed)
	old      string   // presence renamed: the previous name
	text     []byte   // nil: omitted from JSON
	members  []string // nil: omitted from JSON
	users    int64    // welcome: users on the node; 0: omitted
	count    int      // welcome, users, presence: members in the room; 0: omitted
	seq      uint64   // roster version of members; 0: omitted
	ts       int64    // milliseconds since the Unix epoch; 0: omitted
	offset   uint64   // message, me: place in the room's history; 0: omitted (no history)
	epoch    string   // message, me: the history's epoch, with offset
	created  bool     // presence joined: this join created the room
	verified bool     // from (message, me, whisper) or name (presence, welcome) holds a token; false: omitted
}

// appendText renders ev as the plain-text protocol's line.
func (ev *event) appendText(b []byte) []byte {
	switch ev.typ {
	case evMessage:
		b = append(append(append(b, '['), ev.from...), "]: "...)
	case evMe:
		b = append(append(append(b, "* "...), ev.from...), ' ')
	case evWhisper:
		b = append(append(append(b, '['), ev.from...), " -> "...)
		b = append(append(b, ev.to...), "]: "...)
	case evPresence:
		b = append(b, "*** "...)
		switch ev.action {
		case actJoined:
			b = append(append(append(b, ev.name...), " joined "...), ev.room...)
			if ev.created {
				b = append(b, " (new room)"...)
			}
		case actLeft:
			b = append(append(append(b, ev.name...), " left "...), ev.room...)
		case actRenamed:
			b = append(append(append(b, ev.old...), " is now known as "...), ev.name...)
		}
		return b
	case evUsers:
		b = strconv.AppendInt(append(b, "*** "...), int64(ev.count), 10)
		b = append(append(b, " in "...), ev.room...)
		if ev.members == nil {
			return append(b, " (too many to list)"...)
		}
		b = append(b, ": "...)
		for i, name := range ev.members {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, name...)
		}
		return b
	case evError:
		b = append(b, "error: "...)
	case evRefreshed, evNotice:
		b = append(b, "*** "...)
	}
	return append(b, ev.text...)
}

// appendJSON renders ev as a ProtocolJSON object, with fields in a fixed
// order and empty ones left out. Appending, not encoding/json: a
// broadcast encodes into its pooled frame with no allocation.
func (ev *event) appendJSON(b []byte) []byte {
	b = appendJSONString(append(b, `{"type":`...), ev.typ)
	b = appendField(b, "event", ev.action)
	b = appendField(b, "code", ev.code)
	b = appendField(b, "room", ev.room)
	b = appendField(b, "from", ev.from)
	b = appendField(b, "to", ev.to)
	b = appendField(b, "name", ev.name)
	b = appendField(b, "old", ev.old)
	if ev.verified {
		b = append(b, `,"verified":true`...)
	}
	if ev.text != nil {
		b = appendJSONString(append(b, `,"text":`...), ev.text)
	}
	if ev.members != nil {
		b = append(b, `,"members":[`...)
		for i, name := range ev.members {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, name)
		}
		b = append(b, ']')
	}
	if ev.count != 0 {
		b = strconv.AppendInt(append(b, `,"count":`...), int64(ev.count), 10)
	}
	if ev.users != 0 {
		b = strconv.AppendInt(append(b, `,"users":`...), ev.users, 10)
	}
	if ev.seq != 0 {
		b = strconv.AppendUint(append(b, `,"seq":`...), ev.seq, 10)
	}
	if ev.created {
		b = append(b, `,"created":true`...)
	}
	if ev.ts != 0 {
		b = strconv.AppendInt(append(b, `,"ts":`...), ev.ts, 10)
	}
	if ev.offset != 0 {
		b = strconv.AppendUint(append(b, `,"offset":`...), ev.offset, 10)
		b = appendField(b, "epoch", ev.epoch)
	}
	return append(b, '}')
}

// appendField appends `,"key":"value"` unless value is empty.
func appendField(b []byte, key, value string) []byte {
	if value == "" {
		return b
	}
	b = append(append(append(b, ",\""...), key...), "\":"...)
	return appendJSONString(b, value)
}

// frame encodes ev in one format into a pooled frame.
func (ev *event) frame(json bool) *Frame {
	f := beginFrame()
	if json {
		f.buf.B = ev.appendJSON(f.buf.B)
	} else {
		f.buf.B = ev.appendText(f.buf.B)
	}
	return f.finish(codec.OpText)
}

// frames encodes ev once per format that somebody in ri reads: one frame
// per format per broadcast, however many recipients. A format nobody
// reads is nil.
func (ev *event) frames(ri *roomInfo) (tf, jf *Frame) {
	if ri.text.Load() > 0 {
		tf = ev.frame(false)
	}
	if ri.json.Load() > 0 {
		jf = ev.frame(true)
	}
	return tf, jf
}
