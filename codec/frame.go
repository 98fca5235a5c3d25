package codec

import "github.com/gobwas/ws"

// OpCode is the 4-bit frame opcode (RFC 6455 section 5.2).
type OpCode = ws.OpCode

// StatusCode is a close status code (RFC 6455 section 7.4).
type StatusCode = ws.StatusCode

// Opcodes.
const (
	OpContinuation = ws.OpContinuation // 0x0: next fragment of a text or binary message
	OpText         = ws.OpText         // 0x1: UTF-8 payload
	OpBinary       = ws.OpBinary       // 0x2: opaque payload
	OpClose        = ws.OpClose        // 0x8: empty, or 2-byte code + UTF-8 reason (<= 125 bytes)
	OpPing         = ws.OpPing         // 0x9: <= 125 bytes, echoed in a pong
	OpPong         = ws.OpPong         // 0xA: <= 125 bytes
)

// Close status codes.
const (
	StatusNormalClosure           = ws.StatusNormalClosure           // 1000
	StatusGoingAway               = ws.StatusGoingAway               // 1001
	StatusProtocolError           = ws.StatusProtocolError           // 1002
	StatusUnsupportedData         = ws.StatusUnsupportedData         // 1003
	StatusNoStatusRcvd            = ws.StatusNoStatusRcvd            // 1005: never on the wire; "close payload was empty"
	StatusAbnormalClosure         = ws.StatusAbnormalClosure         // 1006: never on the wire; "no close frame at all"
	StatusInvalidFramePayloadData = ws.StatusInvalidFramePayloadData // 1007
	StatusPolicyViolation         = ws.StatusPolicyViolation         // 1008
	StatusMessageTooBig           = ws.StatusMessageTooBig           // 1009
	StatusMandatoryExt            = ws.StatusMandatoryExt            // 1010
	StatusInternalServerError     = ws.StatusInternalServerError     // 1011

	StatusServiceRestart StatusCode = 1012 // IANA registry; not in gobwas/ws
	StatusTryAgainLater  StatusCode = 1013 // IANA registry; not in gobwas/ws
	StatusBadGateway     StatusCode = 1014 // IANA registry; not in gobwas/ws
)

// Limits.
const (
	// DefaultMaxFrameSize is the default Decoder.MaxFrameSize: payload bytes of
	// one frame, inclusive (a frame of exactly 1 MiB is accepted).
	DefaultMaxFrameSize = 1 << 20
	// DefaultMaxMessageSize is the default Decoder.MaxMessageSize: payload bytes
	// of a whole (possibly fragmented) message, inclusive.
	DefaultMaxMessageSize = 4 << 20
	// MaxControlPayload is the largest payload of a ping, pong or close frame.
	MaxControlPayload = ws.MaxControlFramePayloadSize
)

// Role says which end of the connection the Decoder sits on, which decides
// the masking rule it enforces on incoming frames.
type Role uint8

const (
	// RoleServer decodes frames sent by a client: every frame must be masked,
	// an unmasked one is a protocol error (1002).
	RoleServer Role = iota
	// RoleClient decodes frames sent by a server: frames must not be masked,
	// a masked one is a protocol error (1002).
	RoleClient
)

// Kind says what Decoder.Next produced.
type Kind uint8

const (
	// KindNone: no event. With n > 0 bytes were consumed (a fragment was
	// buffered or, in drain mode, bytes were skipped); with n == 0 more bytes
	// are needed.
	KindNone Kind = iota
	// KindMessage: a complete text or binary message.
	KindMessage
	// KindPing: a ping; the caller should answer with a pong carrying Payload.
	KindPing
	// KindPong: a pong.
	KindPong
	// KindClose: a close frame; Code and Reason are set.
	KindClose
)

// String returns the kind's name, for logs and test failures.
func (k Kind) String() string {
	switch k {
	case KindNone:
		return "none"
	case KindMessage:
		return "message"
	case KindPing:
		return "ping"
	case KindPong:
		return "pong"
	case KindClose:
		return "close"
	}
	return "kind(?)"
}

// Event is one decoded frame or message.
//
// Payload and Reason alias memory the Event does not own: either the caller's
// buffer passed to Decoder.Next (unfragmented messages and control frames,
// valid until the caller discards or reuses those bytes) or the Decoder's
// message buffer (fragmented messages, valid until the next call to Next or
// Reset). Copy them to keep them longer.
type Event struct {
	Kind Kind
	// Op is OpText or OpBinary for KindMessage (the opcode of the first
	// fragment), and the frame's opcode for control frames.
	Op OpCode
	// Compressed is set for a KindMessage whose first frame had RSV1 set on
	// a Decoder with Deflate: Payload is the raw deflate data of the whole
	// message, to inflate with Inflater.Inflate (which also checks UTF-8).
	Compressed bool
	// Payload is the unmasked payload: the whole message, the ping or pong
	// data, or the raw close payload (code and reason).
	Payload []byte
	// Code is set for KindClose only: the close code, or StatusNoStatusRcvd
	// (1005) when the close payload is empty.
	Code StatusCode
	// Reason is set for KindClose only: the UTF-8 reason, a sub-slice of
	// Payload.
	Reason []byte
}

// validCloseCode reports whether c may appear in a close frame received from
// the peer: 1000-1003, 1007-1014 (RFC 6455 plus the IANA registry) and
// 3000-4999 (registered and private use). gobwas/ws's CheckCloseFrameData
// rejects the registered 1012-1014, so the rule is written out here.
func validCloseCode(c StatusCode) bool {
	switch {
	case c >= 1000 && c <= 1003:
		return true
	case c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}
