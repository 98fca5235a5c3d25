package codec_test

import (
	"bytes"
	"strings"
	"testing"

	"edgews/codec"
)

// frameCases is shared by the encoder and the decoder: AppendFrame must write
// exactly wire, and decoding wire must give back the kind and payload. The
// masked cases are the examples of RFC 6455 section 5.7.
var frameCases = []struct {
	name    string
	fin     bool
	op      codec.OpCode
	payload []byte
	mask    *[4]byte
	wire    []byte
	kind    codec.Kind // what Decoder.Next returns for wire
}{
	{
		name:    "unmasked text",
		fin:     true,
		op:      codec.OpText,
		payload: []byte("Hello"),
		wire:    cat(bits("1 000 0001 0 0000101"), []byte("Hello")),
		kind:    codec.KindMessage,
	},
	{
		name:    "masked text",
		fin:     true,
		op:      codec.OpText,
		payload: []byte("Hello"),
		mask:    &testMask,
		wire:    []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58},
		kind:    codec.KindMessage,
	},
	{
		name:    "unmasked first fragment",
		fin:     false,
		op:      codec.OpText,
		payload: []byte("Hel"),
		wire:    cat(bits("0 000 0001 0 0000011"), []byte("Hel")),
		kind:    codec.KindNone,
	},
	{
		name:    "unmasked ping",
		fin:     true,
		op:      codec.OpPing,
		payload: []byte("Hello"),
		wire:    cat(bits("1 000 1001 0 0000101"), []byte("Hello")),
		kind:    codec.KindPing,
	},
	{
		name:    "masked pong",
		fin:     true,
		op:      codec.OpPong,
		payload: []byte("Hello"),
		mask:    &testMask,
		wire:    []byte{0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58},
		kind:    codec.KindPong,
	},
	{
		name:    "empty masked binary",
		fin:     true,
		op:      codec.OpBinary,
		payload: []byte{},
		mask:    &testMask,
		wire:    cat(bits("1 000 0010 1 0000000"), testMask[:]),
		kind:    codec.KindMessage,
	},
	{
		name:    "256 bytes binary, 16-bit length",
		fin:     true,
		op:      codec.OpBinary,
		payload: bytes.Repeat([]byte{0xab}, 256),
		wire:    cat(bits("1 000 0010 0 1111110  00000001 00000000"), bytes.Repeat([]byte{0xab}, 256)),
		kind:    codec.KindMessage,
	},
	{
		name:    "64 KiB binary, 64-bit length",
		fin:     true,
		op:      codec.OpBinary,
		payload: bytes.Repeat([]byte{0xcd}, 65536),
		wire: cat(bits("1 000 0010 0 1111111 00000000 00000000 00000000 00000000 00000000 00000001 00000000 00000000"),
			bytes.Repeat([]byte{0xcd}, 65536)),
		kind: codec.KindMessage,
	},
	{
		name:    "masked text 125 bytes, longest 7-bit length",
		fin:     true,
		op:      codec.OpText,
		payload: []byte(strings.Repeat("x", 125)),
		mask:    &testMask,
		wire:    frame(true, 0, codec.OpText, []byte(strings.Repeat("x", 125)), &testMask),
		kind:    codec.KindMessage,
	},
}

func TestFrameCases(t *testing.T) {
	for _, tc := range frameCases {
		t.Run(tc.name+"/encode", func(t *testing.T) {
			orig := bytes.Clone(tc.payload)
			got := codec.AppendFrame(nil, tc.fin, tc.op, tc.payload, tc.mask)
			if !bytes.Equal(got, tc.wire) {
				t.Fatalf("AppendFrame = % x\nwant         % x", head(got), head(tc.wire))
			}
			if !bytes.Equal(tc.payload, orig) {
				t.Fatal("AppendFrame modified the caller's payload")
			}
			if hl := codec.HeaderLen(len(tc.payload), tc.mask != nil); hl+len(tc.payload) != len(got) {
				t.Fatalf("HeaderLen = %d, frame is %d bytes with %d payload", hl, len(got), len(tc.payload))
			}
		})
		t.Run(tc.name+"/decode", func(t *testing.T) {
			d := codec.Decoder{Role: codec.RoleClient}
			if tc.mask != nil {
				d.Role = codec.RoleServer
			}
			buf := bytes.Clone(tc.wire)
			ev, n, err := d.Next(buf)
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if n != len(tc.wire) {
				t.Fatalf("n = %d, want %d", n, len(tc.wire))
			}
			if ev.Kind != tc.kind {
				t.Fatalf("kind = %v, want %v", ev.Kind, tc.kind)
			}
			if tc.kind == codec.KindNone {
				if !d.Fragmented() {
					t.Fatal("first fragment did not start a fragmented message")
				}
				return
			}
			if ev.Op != tc.op {
				t.Fatalf("op = %v, want %v", ev.Op, tc.op)
			}
			if !bytes.Equal(ev.Payload, tc.payload) {
				t.Fatalf("payload = %q, want %q", head(ev.Payload), head(tc.payload))
			}
			// Zero copy: the payload is the unmasked tail of buf itself.
			if len(ev.Payload) > 0 && &ev.Payload[len(ev.Payload)-1] != &buf[len(buf)-1] {
				t.Fatal("payload is not a sub-slice of the caller's buffer")
			}
		})
	}
}

// head shortens long byte slices in failure messages.
func head(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}
