package codec

import "errors"

// ProtocolError is a violation of the framing rules of RFC 6455. The
// connection must be failed with close code 1002 (protocol error).
type ProtocolError string

// Error implements error.
func (e ProtocolError) Error() string { return string(e) }

// CloseCode returns StatusProtocolError.
func (e ProtocolError) CloseCode() StatusCode { return StatusProtocolError }

// InvalidDataError is a payload that is not what its frame type promises:
// invalid UTF-8 in a text message or close reason. Close code 1007.
type InvalidDataError string

// Error implements error.
func (e InvalidDataError) Error() string { return string(e) }

// CloseCode returns StatusInvalidFramePayloadData.
func (e InvalidDataError) CloseCode() StatusCode { return StatusInvalidFramePayloadData }

// TooBigError is a frame or message over the Decoder's limits. Close code 1009.
type TooBigError string

// Error implements error.
func (e TooBigError) Error() string { return string(e) }

// CloseCode returns StatusMessageTooBig.
func (e TooBigError) CloseCode() StatusCode { return StatusMessageTooBig }

// Errors returned by Decoder.Next. They are constants, so they can be compared
// with == or errors.Is, and returning one costs no allocation.
const (
	// Masking (RFC 6455 section 5.1).
	ErrMaskRequired   = ProtocolError("codec: frame from client is not masked")
	ErrMaskUnexpected = ProtocolError("codec: frame from server is masked")

	// Header fields (section 5.2).
	ErrNonZeroRsv     = ProtocolError("codec: reserved bits set without a negotiated extension")
	ErrReservedOpCode = ProtocolError("codec: reserved opcode")

	// Control frames (section 5.5).
	ErrControlTooBig     = ProtocolError("codec: control frame payload over 125 bytes")
	ErrControlFragmented = ProtocolError("codec: control frame is fragmented")

	// Fragmentation (section 5.4).
	ErrUnexpectedContinuation = ProtocolError("codec: continuation frame without a fragmented message")
	ErrExpectedContinuation   = ProtocolError("codec: new data frame inside a fragmented message")

	// Close payload (section 5.5.1, 7.4).
	ErrCloseTooShort    = ProtocolError("codec: close payload of 1 byte")
	ErrInvalidCloseCode = ProtocolError("codec: invalid close code")

	// UTF-8 (section 8.1).
	ErrInvalidUTF8        = InvalidDataError("codec: invalid UTF-8 in text message")
	ErrInvalidCloseReason = InvalidDataError("codec: invalid UTF-8 in close reason")

	// Sizes, decided on the header before any payload arrives.
	ErrLengthOverflow = TooBigError("codec: 64-bit payload length has its most significant bit set")
	ErrFrameTooBig    = TooBigError("codec: frame too large")
	ErrMessageTooBig  = TooBigError("codec: message too large")
)

// closeCoder is implemented by the error types above.
type closeCoder interface{ CloseCode() StatusCode }

// CloseCode returns the close code to send for err: StatusNormalClosure (1000)
// for nil; 1002, 1007 or 1009 for the decoder's errors, also when wrapped;
// StatusInternalServerError (1011) for anything else.
func CloseCode(err error) StatusCode {
	if err == nil {
		return StatusNormalClosure
	}
	// Fast path without errors.As: the decoder returns its errors unwrapped.
	if c, ok := err.(closeCoder); ok {
		return c.CloseCode()
	}
	var c closeCoder
	if errors.As(err, &c) {
		return c.CloseCode()
	}
	return StatusInternalServerError
}
