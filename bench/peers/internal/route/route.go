// Package route holds what the three peer servers share: the two paths, the
// size limit and the exact chat texts, so that every peer answers byte for
// byte like the node does.
//
// The chat follows Ktor's chat tutorial:
//
//	connect        -> "You are connected! There are N users here."  (N counts the newcomer)
//	text T from K  -> "[userK]: T" to every connected user, sender included
//	binary frames  -> ignored
package route

import "strconv"

const (
	// EchoPath echoes every text or binary message with the same opcode.
	EchoPath = "/echo"
	// ChatPath is the Ktor-style chat room.
	ChatPath = "/chat"

	// MaxMessageSize is the largest message every peer accepts: 4 MiB, the
	// node's --max-message-size default (and nbio's default limit).
	MaxMessageSize = 4 << 20

	// MaxOutboundBytes is the slow-consumer budget where a library lets us
	// set one: a connection with more than this queued (not yet accepted
	// by the kernel) is dropped. 4 MiB, the node's --max-outbound-bytes
	// default.
	MaxOutboundBytes = 4 << 20
)

// Greeting returns the text sent to a user on connect; n counts every
// connected chat user including the newcomer.
func Greeting(n int) []byte {
	b := make([]byte, 0, 48)
	b = append(b, "You are connected! There are "...)
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, " users here."...)
}

// Prefix returns "[userID]: ", computed once per user so a broadcast costs
// one allocation for the line.
func Prefix(id uint64) []byte {
	b := make([]byte, 0, 24)
	b = append(b, "[user"...)
	b = strconv.AppendUint(b, id, 10)
	return append(b, "]: "...)
}

// Line returns a new slice holding prefix followed by text. The result is
// never reused by the caller, so it may be shared by every recipient.
func Line(prefix, text []byte) []byte {
	b := make([]byte, 0, len(prefix)+len(text))
	b = append(b, prefix...)
	return append(b, text...)
}
