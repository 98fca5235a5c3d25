package codec

import "unsafe"

// Test-only access to unexported state.

// UTF8State exposes the incremental validator.
type UTF8State = utf8State

const (
	UTF8Accept = utf8Accept
	UTF8Reject = utf8Reject
)

// UTF8Next is utf8State.next.
func UTF8Next(s UTF8State, p []byte) UTF8State { return s.next(p) }

// DecoderStateSize is the size of a Decoder without its fragment buffer.
const DecoderStateSize = unsafe.Sizeof(Decoder{}) - unsafe.Sizeof([]byte(nil))

// KeepMsgBufCap is keepMsgBufCap.
const KeepMsgBufCap = keepMsgBufCap
