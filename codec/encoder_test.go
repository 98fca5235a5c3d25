package codec_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"edgews/codec"
)

func TestHeaderLen(t *testing.T) {
	tests := []struct {
		name   string
		length int
		masked bool
		want   int
	}{
		{"empty", 0, false, 2},
		{"7-bit max", 125, false, 2},
		{"16-bit min", 126, false, 4},
		{"16-bit max", 65535, false, 4},
		{"64-bit min", 65536, false, 10},
		{"64-bit", 1 << 40, false, 10},
		{"empty masked", 0, true, 6},
		{"16-bit masked", 126, true, 8},
		{"64-bit masked", 65536, true, 14},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := codec.HeaderLen(tc.length, tc.masked); got != tc.want {
				t.Fatalf("HeaderLen(%d, %v) = %d, want %d", tc.length, tc.masked, got, tc.want)
			}
			var mask *[4]byte
			if tc.masked {
				mask = &testMask
			}
			if got := len(codec.AppendHeader(nil, true, codec.OpBinary, tc.length, mask)); got != tc.want {
				t.Fatalf("AppendHeader wrote %d bytes, want %d", got, tc.want)
			}
		})
	}
}

// TestRoundTrip encodes payloads of every length class, masked (decoded as a
// server) and unmasked (decoded as a client), and decodes them back.
func TestRoundTrip(t *testing.T) {
	for _, length := range []int{0, 1, 125, 126, 65535, 65536, 1 << 20} {
		for _, masked := range []bool{false, true} {
			for _, op := range []codec.OpCode{codec.OpBinary, codec.OpText} {
				t.Run(fmt.Sprintf("%d/masked=%v/op=%d", length, masked, op), func(t *testing.T) {
					payload := make([]byte, length)
					for i := range payload {
						payload[i] = byte('a' + i%26)
					}
					orig := bytes.Clone(payload)
					d := codec.Decoder{Role: codec.RoleClient}
					var mask *[4]byte
					if masked {
						m := codec.NewMask()
						mask = &m
						d.Role = codec.RoleServer
					}
					prefix := []byte("previous frame")
					f := codec.AppendFrame(bytes.Clone(prefix), true, op, payload, mask)
					if !bytes.Equal(f[:len(prefix)], prefix) {
						t.Fatal("AppendFrame overwrote dst")
					}
					f = f[len(prefix):]
					if !bytes.Equal(payload, orig) {
						t.Fatal("AppendFrame modified the payload")
					}
					if want := codec.HeaderLen(length, masked) + length; len(f) != want {
						t.Fatalf("frame is %d bytes, want %d", len(f), want)
					}
					if masked && length >= 8 && bytes.Equal(f[len(f)-8:], payload[length-8:]) && *mask != [4]byte{} {
						t.Fatal("payload was not masked")
					}
					ev, n, err := d.Next(f)
					if err != nil || n != len(f) || ev.Kind != codec.KindMessage || ev.Op != op {
						t.Fatalf("kind %v op %v n %d err %v", ev.Kind, ev.Op, n, err)
					}
					if !bytes.Equal(ev.Payload, payload) {
						t.Fatal("payload differs after the round trip")
					}
				})
			}
		}
	}
}

func TestAppendClose(t *testing.T) {
	long := strings.Repeat("r", 200)
	tests := []struct {
		name       string
		code       codec.StatusCode
		reason     string
		wantReason string
		wire       []byte // unmasked encoding, when worth spelling out
	}{
		{name: "code 0 is an empty payload", code: 0, reason: "ignored", wire: bits("1 000 1000 0 0000000")},
		{name: "code only", code: 1000, wire: cat(bits("1 000 1000 0 0000010"), []byte{0x03, 0xe8})},
		{name: "code and reason", code: 1001, reason: "bye", wantReason: "bye", wire: cat(bits("1 000 1000 0 0000101"), []byte{0x03, 0xe9}, []byte("bye"))},
		{name: "123 bytes fit", code: 1000, reason: long[:123], wantReason: long[:123]},
		{name: "ASCII truncated to 123", code: 1000, reason: long, wantReason: long[:123]},
		{name: "rune ending at 123 kept", code: 1000, reason: strings.Repeat("a", 120) + "€x", wantReason: strings.Repeat("a", 120) + "€"},
		{name: "rune crossing 123 dropped", code: 1000, reason: strings.Repeat("a", 121) + "€", wantReason: strings.Repeat("a", 121)},
		{name: "4-byte rune crossing 123 dropped", code: 1000, reason: strings.Repeat("a", 122) + "😀", wantReason: strings.Repeat("a", 122)},
		{name: "code 1013", code: codec.StatusTryAgainLater, reason: "later", wantReason: "later"},
	}
	for _, tc := range tests {
		for _, masked := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/masked=%v", tc.name, masked), func(t *testing.T) {
				d := codec.Decoder{Role: codec.RoleClient}
				var mask *[4]byte
				if masked {
					mask = &testMask
					d.Role = codec.RoleServer
				}
				f := codec.AppendClose(nil, tc.code, tc.reason, mask)
				if !masked && tc.wire != nil && !bytes.Equal(f, tc.wire) {
					t.Fatalf("AppendClose = % x, want % x", f, tc.wire)
				}
				ev, n, err := d.Next(f)
				if err != nil || n != len(f) || ev.Kind != codec.KindClose {
					t.Fatalf("kind %v n %d err %v", ev.Kind, n, err)
				}
				if len(ev.Payload) > codec.MaxControlPayload {
					t.Fatalf("payload is %d bytes", len(ev.Payload))
				}
				wantCode := tc.code
				if wantCode == 0 {
					wantCode = codec.StatusNoStatusRcvd
				}
				if ev.Code != wantCode || string(ev.Reason) != tc.wantReason {
					t.Fatalf("code %d reason %q, want %d %q", ev.Code, ev.Reason, wantCode, tc.wantReason)
				}
				if !utf8.Valid(ev.Reason) {
					t.Fatal("truncated reason is not valid UTF-8")
				}
			})
		}
	}
}

func TestNewMask(t *testing.T) {
	seen := map[[4]byte]bool{}
	for range 16 {
		seen[codec.NewMask()] = true
	}
	if len(seen) < 8 {
		t.Fatalf("16 masks gave only %d distinct keys", len(seen))
	}
}

func TestAppendHeaderNegativeLengthPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	codec.AppendHeader(nil, true, codec.OpBinary, -1, nil)
}
