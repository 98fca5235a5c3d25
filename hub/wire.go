package hub

import (
	"encoding/binary"
	"unsafe"
)

// The wire form of an event sent to the other nodes of a cluster (see
// Cluster): a room event (message, /me, presence), a whisper, or a
// reservation (to the node whose anonymous member holds the name an
// authenticated user has just connected with elsewhere: evReserve). The
// receiving node renders it in the formats its own members read, so one
// wire message serves text and JSON members alike, and it computes member
// lists itself (they are not on the wire).
//
//	byte 0     wireVersion
//	byte 1     kind: wireMessage, wireMe, wirePresence, wireWhisper, wireReserve, wireNotice
//	byte 2     flags: wireCreated | wireJSONOnly | wireVerified
//	byte 3     presence action: wireJoined, wireLeft, wireRenamed (0 otherwise)
//	bytes 4-11 ts, milliseconds since the Unix epoch, big-endian
//	then six strings, each a uvarint length and its bytes:
//	room, from, to, name, old, text
const (
	wireVersion = 1

	wireMessage  = 'm'
	wireMe       = 'e'
	wirePresence = 'p'
	wireWhisper  = 'w'
	wireReserve  = 'r'
	wireNotice   = 'n'

	wireCreated  = 1 << 0 // presence joined: the join created the room
	wireJSONOnly = 1 << 1 // presence of a connect or disconnect: JSON members only
	wireVerified = 1 << 2 // the sender (or the presence's name) holds a token

	wireJoined  = 1
	wireLeft    = 2
	wireRenamed = 3

	wireHeader = 12
)

// errWire is why a wire message was dropped.
type errWire string

func (e errWire) Error() string { return string(e) }

const errWireMalformed errWire = "hub: malformed cluster message"

var wireKinds = map[string]byte{evMessage: wireMessage, evMe: wireMe, evPresence: wirePresence, evWhisper: wireWhisper, evReserve: wireReserve, evNotice: wireNotice}

var wireActions = [...]string{wireJoined: actJoined, wireLeft: actLeft, wireRenamed: actRenamed}

// appendWire appends ev's wire form to b. jsonOnly marks a presence event
// meant for JSON members only.
func (ev *event) appendWire(b []byte, jsonOnly bool) []byte {
	var flags, action byte
	if ev.created {
		flags |= wireCreated
	}
	if jsonOnly {
		flags |= wireJSONOnly
	}
	if ev.verified {
		flags |= wireVerified
	}
	switch ev.action {
	case actJoined:
		action = wireJoined
	case actLeft:
		action = wireLeft
	case actRenamed:
		action = wireRenamed
	}
	b = append(b, wireVersion, wireKinds[ev.typ], flags, action)
	b = binary.BigEndian.AppendUint64(b, uint64(ev.ts))
	for _, s := range [...]string{ev.room, ev.from, ev.to, ev.name, ev.old} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(ev.text)))
	return append(b, ev.text...)
}

// parseWire reads a wire message into ev. ev's strings and text point into
// p (no copy, so that a message from another node costs no allocation to
// decode): they are valid for as long as p is unchanged.
func parseWire(p []byte) (ev event, jsonOnly bool, err error) {
	if len(p) < wireHeader || p[0] != wireVersion {
		return ev, false, errWireMalformed
	}
	switch p[1] {
	case wireMessage:
		ev.typ = evMessage
	case wireMe:
		ev.typ = evMe
	case wirePresence:
		ev.typ = evPresence
	case wireWhisper:
		ev.typ = evWhisper
	case wireReserve:
		ev.typ = evReserve
	case wireNotice:
		ev.typ = evNotice
	default:
		return ev, false, errWireMalformed
	}
	ev.created = p[2]&wireCreated != 0
	jsonOnly = p[2]&wireJSONOnly != 0
	ev.verified = p[2]&wireVerified != 0
	if a := p[3]; a != 0 {
		if int(a) >= len(wireActions) {
			return ev, false, errWireMalformed
		}
		ev.action = wireActions[a]
	}
	ev.ts = int64(binary.BigEndian.Uint64(p[4:12]))
	p = p[wireHeader:]
	var fields [6][]byte
	for i := range fields {
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)-k) {
			return ev, false, errWireMalformed
		}
		fields[i], p = p[k:k+int(n)], p[k+int(n):]
	}
	ev.room, ev.from, ev.to = wireString(fields[0]), wireString(fields[1]), wireString(fields[2])
	ev.name, ev.old = wireString(fields[3]), wireString(fields[4])
	if ev.typ != evPresence {
		ev.text = fields[5] // never nil: an empty line still has a "text"
	}
	return ev, jsonOnly, nil
}

// wireString views b as a string without copying; b must not change
// while the string is in use (parseWire's contract).
func wireString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
