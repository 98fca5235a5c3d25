package hub

import "time"

// Defaults of the history settings of Config.
const (
	DefaultHistoryTTL      = 24 * time.Hour // how long a stored message is kept
	DefaultHistoryMaxBytes = 64 << 20       // node-wide bytes of stored messages

	// HistoryShares is how many parts of the node-wide bytes one room, or
	// one sender, may hold by default (HistoryRoomMaxBytes): 1 MiB of the
	// default 64 MiB, some 40 lines of the longest, most escaped text.
	HistoryShares = 64
)

// MessageFlags describe a stored message.
type MessageFlags uint8

// Message flags.
const (
	MessageMe       MessageFlags = 1 << iota // a /me action, else a chat line
	MessageVerified                          // said by a token holder: its events say "verified":true
)

// History keeps the recent messages (chat lines and /me actions) of every
// room, each with its offset in the room (1, 2, 3, ... without gaps) and
// the room's epoch, a string that changes only when the room's history is
// lost. MemoryHistory is the single node's; a cluster supplies one shared
// by its nodes (Config.HistoryStore).
//
// The hub calls Append for one room at a time, holding the room's order
// lock, in the order the room's messages are posted for delivery, and
// Read under the same lock when a member enters the room: that is what
// makes the boundary between a history event and the live messages after
// it exact. Implementations must be safe for concurrent use across rooms
// and must not block on the network (they are called on event loops).
type History interface {
	// Append stores a message said in room by owner (an id of the sender,
	// whose share of the store may be bounded; 0: none) and returns its
	// offset and the room's epoch. from and text are copied; the epoch
	// string stays valid. An offset of 0 says that the message was not
	// kept (its owner holds its share already): it is delivered without
	// one, and the room's offsets go on without a gap.
	Append(room string, owner uint64, flags MessageFlags, from string, text []byte, ts int64) (offset uint64, epoch string)

	// Read calls fn with room's stored messages, oldest first, at most max
	// (the newest ones). With resume, it gives the messages after offset
	// since if epoch is the room's and all of them are still held (and
	// there are no more than max); otherwise reset is true and it gives the
	// newest max, so that the reader knows it missed some. The message
	// passed to fn is valid during the call only.
	Read(room string, since uint64, epoch string, resume bool, max int, fn func(*HistoryMessage)) (roomEpoch string, reset bool)

	// Hold says that room has members: its epoch and offsets are kept
	// even when it has no message. Release undoes one Hold; a room with
	// neither holds nor messages may be forgotten (a later message then
	// starts a new epoch).
	Hold(room string)
	Release(room string)
}

// HistoryMessage is one stored message as History.Read hands it out. Its
// slices point into the store: valid during the Read callback only.
type HistoryMessage struct {
	Offset   uint64
	Epoch    string
	Me       bool // a /me action, else a chat line
	Verified bool // said by a token holder
	From     []byte
	Text     []byte
	TS       int64 // milliseconds since the Unix epoch, when it was said
}
