package bench

import (
	"bytes"
	"encoding/binary"
	"strings"
)

// Message layouts. Every message the bench sends carries its send time, so
// the receiver measures latency without a table of sent messages, and a
// sequence number, so each receiver tells a first copy from a duplicate
// (track.go) and the coordinator counts what never came (accounting.go).
// The send time is the time the message was due (its slot in the sender's
// timetable, schedule.go), except in closed-loop echo, which has no
// timetable and stamps the actual send: a client that falls behind its
// schedule then shows in the latency instead of hiding in it.
//
// echo (binary frame, Payload bytes):
//
//	0       8       16                Payload
//	+-------+-------+-----------------+
//	| sent  | seq   | filler 'e'...   |   sent: int64 little-endian, clock.go's nanoseconds;
//	+-------+-------+-----------------+   seq: uint64 little-endian, the connection's message number
//
// broadcast and chat (text frame, because the chat only relays text; the
// server prefixes it with "[userK]: "; a whisper is sent as
// "/whisper userK " + this):
//
//	0    4    5         13        21        29                45            Payload
//	+----+----+---------+---------+---------+-----------------+-------------+
//	|#wsb|kind| sender  | seq     | to      | sent            | filler '.'  |
//	+----+----+---------+---------+---------+-----------------+-------------+
//	kind: 'B' broadcast, 'W' whisper; sender: global user index, 8 hex
//	digits; seq: the sender's slot number, 8 hex digits; to: a whisper's
//	target user index, ffffffff for a broadcast; sent: nanoseconds, 16 hex
//	digits.
const (
	echoHeaderLen = 16
	chatHeaderLen = 45

	kindBroadcast = 'B'
	kindWhisper   = 'W'
)

// chatMarker starts the bench's part of a chat message.
var chatMarker = []byte("#wsb")

const hexDigits = "0123456789abcdef"

// newEchoPayload returns an echo payload template of size bytes.
func newEchoPayload(size int) []byte {
	p := bytes.Repeat([]byte{'e'}, size)
	return p
}

// stampEcho writes the send time and sequence number into an echo payload.
func stampEcho(p []byte, sent int64, seq uint32) {
	binary.LittleEndian.PutUint64(p, uint64(sent))
	binary.LittleEndian.PutUint64(p[8:], uint64(seq))
}

// echoStamp reads the send time and sequence number of an echo payload; ok
// is false for a payload too short to be the bench's or a sequence number
// past 32 bits.
func echoStamp(p []byte) (sent int64, seq uint32, ok bool) {
	if len(p) < echoHeaderLen {
		return 0, 0, false
	}
	q := binary.LittleEndian.Uint64(p[8:])
	return int64(binary.LittleEndian.Uint64(p)), uint32(q), q <= 0xffffffff
}

// newChatPayload returns a chat payload template of size bytes.
func newChatPayload(size int) []byte {
	p := bytes.Repeat([]byte{'.'}, size)
	copy(p, chatMarker)
	return p
}

// noTarget is the to field of a broadcast.
const noTarget = 0xffffffff

// stampChat writes kind, sender, seq, target (noTarget for a broadcast)
// and send time into a chat payload.
func stampChat(p []byte, kind byte, sender, seq, to uint32, sent int64) {
	_ = p[chatHeaderLen-1]
	p[4] = kind
	putHex(p[5:13], uint64(sender))
	putHex(p[13:21], uint64(seq))
	putHex(p[21:29], uint64(to))
	putHex(p[29:45], uint64(sent))
}

// chatMsg is the bench's part of a received chat message.
type chatMsg struct {
	kind   byte
	sender uint32
	seq    uint32
	to     uint32 // a whisper's target; noTarget for a broadcast
	sent   int64
	at     int // offset of the marker in the received payload
}

// parseChat finds the bench's header in a received chat message ("[userK]:
// " or a whisper prefix before it). ok is false for other messages (the
// greeting, other clients' chatter).
func parseChat(p []byte) (m chatMsg, ok bool) {
	i := bytes.Index(p, chatMarker)
	if i < 0 || len(p)-i < chatHeaderLen {
		return m, false
	}
	h := p[i : i+chatHeaderLen]
	sender, ok1 := getHex(h[5:13])
	seq, ok2 := getHex(h[13:21])
	to, ok3 := getHex(h[21:29])
	sent, ok4 := getHex(h[29:45])
	if !ok1 || !ok2 || !ok3 || !ok4 || (h[4] != kindBroadcast && h[4] != kindWhisper) {
		return m, false
	}
	return chatMsg{kind: h[4], sender: uint32(sender), seq: uint32(seq), to: uint32(to), sent: int64(sent), at: i}, true
}

// senderName returns "userK" from a broadcast "[userK]: ..." whose bench
// header starts at offset at, or nil.
func senderName(p []byte, at int) []byte {
	if len(p) == 0 || p[0] != '[' {
		return nil
	}
	end := bytes.Index(p[:at], []byte("]: "))
	if end < 1 {
		return nil
	}
	return p[1:end]
}

// putHex writes v as len(dst) lowercase hex digits, most significant first.
func putHex(dst []byte, v uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = hexDigits[v&0xf]
		v >>= 4
	}
}

// getHex parses lowercase hex digits.
func getHex(src []byte) (v uint64, ok bool) {
	for _, c := range src {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// fillChatLike fills p with chat-like JSON events (repeated keys and
// names, varied words from a small vocabulary), the same bytes on every
// run: what a chat node's egress looks like to a compressor. A repeated
// filler byte would compress a thousandfold and flatter every server.
func fillChatLike(p []byte) {
	names := [...]string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}
	words := strings.Fields("the a to and of is in it you that was for on are with as I his they be at one have this from " +
		"or had by hot word but what some we can out other were all there when up use your how said an each she which do " +
		"their time if will way about many then them write would like so these her long make thing see him two has look " +
		"more day could go come did number sound no most people my over know water than call first who may down side been " +
		"now find any new work part take get place made live where after back little only round man year came show every")
	var b []byte
	seed := uint32(1)
	next := func(n int) int { seed = seed*1664525 + 1013904223; return int(seed>>16) % n }
	for len(b) < len(p) {
		b = append(b, `{"type":"message","room":"lobby","from":"`...)
		b = append(b, names[next(len(names))]...)
		b = append(b, `","text":"`...)
		for i, n := 0, 4+next(10); i < n; i++ {
			if i > 0 {
				b = append(b, ' ')
			}
			b = append(b, words[next(len(words))]...)
		}
		b = append(b, `","ts":17`...)
		for i := 0; i < 11; i++ {
			b = append(b, hexDigits[next(10)])
		}
		b = append(b, "}\n"...)
	}
	copy(p, b)
}
