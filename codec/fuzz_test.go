package codec_test

import (
	"bytes"
	"fmt"
	"testing"
	"unicode/utf8"

	"edgews/codec"
)

// Small limits so that the fuzzer reaches the 1009 rules with small inputs.
const (
	fuzzMaxFrame = 256
	fuzzMaxMsg   = 512
)

// fuzzSeeds are valid streams (plus a few that end in drain mode).
func fuzzSeeds() []struct {
	data   []byte
	client bool
} {
	m := &testMask
	return []struct {
		data   []byte
		client bool
	}{
		{data: frame(true, 0, codec.OpText, []byte("Hello"), m)},
		{data: cat(
			frame(false, 0, codec.OpText, []byte("Hel"), m),
			frame(true, 0, codec.OpPing, []byte("p"), m),
			frame(false, 0, codec.OpContinuation, []byte("lo \xe2"), m),
			frame(true, 0, codec.OpContinuation, []byte("\x82\xac"), m),
			frame(true, 0, codec.OpClose, closePayload(1000, "bye"), m),
		)},
		{data: cat(
			frame(true, 0, codec.OpBinary, bytes.Repeat([]byte{0xa5}, 200), m),
			frame(true, 0, codec.OpPong, []byte("pong"), m),
		)},
		{data: cat(
			frame(false, 0, codec.OpBinary, []byte{1, 2, 3}, m),
			frame(true, 0, codec.OpContinuation, nil, m),
			frame(true, 0, codec.OpClose, nil, m),
		)},
		{data: cat(
			frame(true, 0, codec.OpText, []byte("unmasked €"), nil),
			frame(true, 0, codec.OpClose, closePayload(1001, ""), nil),
		), client: true},
		{data: cat(
			hdr(true, 0, codec.OpBinary, 300, m), make([]byte, 300), // over fuzzMaxFrame: drain skips it
			frame(true, 0, codec.OpClose, closePayload(1009, ""), m),
		)},
	}
}

// FuzzDecode decodes data whole, in two pieces split at k, and (when short)
// one byte at a time: all must give the same events and errors. Every
// message, ping and pong re-encodes (masked) to a frame that decodes to the
// same payload, every close to one with the same code and reason.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s.data, uint16(len(s.data)/2), s.client)
	}
	f.Fuzz(func(t *testing.T, data []byte, k uint16, client bool) {
		role := codec.RoleServer
		if client {
			role = codec.RoleClient
		}
		whole := decodeChunks(t, role, data)
		cut := int(k) % (len(data) + 1)
		parts := decodeChunks(t, role, data[:cut], data[cut:])
		if fmt.Sprint(whole) != fmt.Sprint(parts) {
			t.Fatalf("split at %d changed the result:\nwhole %+v\nsplit %+v", cut, whole, parts)
		}
		if len(data) <= 512 {
			chunks := make([][]byte, len(data))
			for i := range data {
				chunks[i] = data[i : i+1]
			}
			if single := decodeChunks(t, role, chunks...); fmt.Sprint(whole) != fmt.Sprint(single) {
				t.Fatalf("byte by byte changed the result:\nwhole %+v\nbytes %+v", whole, single)
			}
		}
		mask := [4]byte{byte(k), byte(k >> 8), 0x5a, 0xc3}
		draining := false
		for _, r := range whole {
			if r.Err != nil {
				draining = true
				continue
			}
			checkReencode(t, r, &mask, draining)
		}
	})
}

// decodeChunks feeds chunks to a fresh decoder the way the engine does and
// returns what it produced. The chunks are copied: Next unmasks in place.
func decodeChunks(t *testing.T, role codec.Role, chunks ...[]byte) []record {
	d := &codec.Decoder{Role: role, MaxFrameSize: fuzzMaxFrame, MaxMessageSize: fuzzMaxMsg}
	s := stream{t: t, d: d}
	for _, c := range chunks {
		s.feed(c)
		if d.Draining() && len(s.pending) > 14+codec.MaxControlPayload {
			t.Fatalf("drain mode left %d bytes buffered", len(s.pending))
		}
	}
	return s.out
}

func checkReencode(t *testing.T, r record, mask *[4]byte, draining bool) {
	t.Helper()
	var f []byte
	switch r.Kind {
	case codec.KindMessage:
		if r.Op == codec.OpText && !utf8.ValidString(r.Payload) {
			t.Fatalf("text message with invalid UTF-8: %q", r.Payload)
		}
		if len(r.Payload) > fuzzMaxMsg {
			t.Fatalf("message of %d bytes over the limit", len(r.Payload))
		}
		f = codec.AppendFrame(nil, true, r.Op, []byte(r.Payload), mask)
	case codec.KindPing, codec.KindPong:
		f = codec.AppendFrame(nil, true, r.Op, []byte(r.Payload), mask)
	case codec.KindClose:
		if draining || r.Code == codec.StatusNoStatusRcvd {
			return // lenient or empty: nothing to compare
		}
		f = codec.AppendClose(nil, r.Code, r.Reason, mask)
	default:
		t.Fatalf("record without kind or error: %+v", r)
	}
	var d codec.Decoder
	ev, n, err := d.Next(f)
	if err != nil || n != len(f) {
		t.Fatalf("re-encoded %+v: n %d of %d, err %v", r, n, len(f), err)
	}
	got := recordOf(ev, nil)
	if got != r {
		t.Fatalf("re-encode changed the frame:\nwas %+v\nnow %+v", r, got)
	}
}
