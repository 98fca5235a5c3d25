package codec_test

import (
	"bytes"
	"compress/flate"
	"errors"
	"runtime"
	"strings"
	"testing"

	"edgews/codec"
)

// deflateStd compresses p as a permessage-deflate sender does, with the
// standard library (not the implementation under test): raw deflate, sync
// flush, trailing 00 00 ff ff stripped.
func deflateStd(t testing.TB, p []byte) []byte {
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(p)
	w.Flush()
	out := b.Bytes()
	if !bytes.HasSuffix(out, []byte{0, 0, 0xff, 0xff}) {
		t.Fatalf("sync flush does not end in 00 00 ff ff: % x", out)
	}
	return out[:len(out)-4]
}

// inflateStd inflates a permessage-deflate payload with the standard library.
func inflateStd(t testing.TB, p []byte) []byte {
	r := flate.NewReader(bytes.NewReader(append(append([]byte{}, p...), 0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff)))
	var b bytes.Buffer
	if _, err := b.ReadFrom(r); err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return b.Bytes()
}

// chatJSON is about 2 KiB of chat-like JSON events: repeated keys and
// names, varied words, as a chat node's egress is.
var chatJSON = chatLike(2048)

func chatLike(n int) []byte {
	names := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace"}
	words := strings.Fields("the a to and of is in it you that was for on are with as I his they be at one have this from or had by hot word but what some we can out other were all there when up use your how said an each she which do their time if will way about many then them write would like so these her long make thing see him two has look more day could go come did number sound no most people my over know water than call first who may down side been now find any new work part take get place made live where after back little only round man year came show every good me give our under name very through just form sentence great think say help low line differ turn cause much mean before move right boy old too same tell does set three want air well also play small end put home read hand port large spell add even land here must big high such follow act why ask men change went light kind off need house picture try us again animal point mother world near build self earth father")
	var b []byte
	seed := uint32(7)
	next := func(k int) int { seed = seed*1664525 + 1013904223; return int(seed>>16) % k }
	for len(b) < n {
		b = append(b, `{"type":"message","room":"lobby","from":"`...)
		b = append(b, names[next(len(names))]...)
		b = append(b, `","text":"`...)
		for i, k := 0, 3+next(9); i < k; i++ {
			if i > 0 {
				b = append(b, ' ')
			}
			b = append(b, words[next(len(words))]...)
		}
		b = append(b, `","ts":17`...)
		for i := 0; i < 8; i++ {
			b = append(b, byte('0'+next(10)))
		}
		b = append(b, "}\n"...)
	}
	return b[:n]
}

func TestDeflateRoundTrip(t *testing.T) {
	z := codec.NewDeflater(1)
	var f codec.Inflater
	for _, p := range [][]byte{nil, []byte("a"), chatJSON, bytes.Repeat([]byte{0}, 200000)} {
		c := z.AppendDeflate([]byte("prefix"), p)
		if !bytes.HasPrefix(c, []byte("prefix")) {
			t.Fatalf("AppendDeflate lost dst")
		}
		c = c[len("prefix"):]
		if got := inflateStd(t, c); !bytes.Equal(got, p) {
			t.Fatalf("stdlib inflates %d bytes back to %d bytes", len(p), len(got))
		}
		got, err := f.Inflate(c, true, 1<<20)
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("Inflate: %d bytes, %v; want %d bytes", len(got), err, len(p))
		}
	}
	if c := z.AppendDeflate(nil, chatJSON); len(c) > len(chatJSON)/3 {
		t.Fatalf("chat JSON compressed to %d of %d bytes", len(c), len(chatJSON))
	}
}

func TestAppendCompressedFrame(t *testing.T) {
	z := codec.NewDeflater(0)
	for _, p := range [][]byte{[]byte("short"), chatJSON, bytes.Repeat(chatJSON, 200)} {
		fr := z.AppendCompressedFrame([]byte{9}, codec.OpText, p)[1:]
		d := codec.Decoder{Role: codec.RoleClient, Deflate: true}
		ev, n, err := d.Next(fr)
		if err != nil || n != len(fr) || ev.Kind != codec.KindMessage || !ev.Compressed || ev.Op != codec.OpText {
			t.Fatalf("decode: %+v n=%d/%d err=%v", ev, n, len(fr), err)
		}
		if fr[0] != 0xc1 {
			t.Fatalf("first byte %#x, want FIN|RSV1|text", fr[0])
		}
		if got := inflateStd(t, ev.Payload); !bytes.Equal(got, p) {
			t.Fatalf("payload does not inflate back")
		}
	}
}

// compressedFrames returns the masked frames of p compressed and cut in
// fragments of at most size compressed bytes; RSV1 is set on the first.
func compressedFrames(t testing.TB, op codec.OpCode, p []byte, size int) [][]byte {
	c := deflateStd(t, p)
	var frames [][]byte
	for first := true; first || len(c) > 0; first = false {
		n := min(size, len(c))
		fop, rsv := codec.OpContinuation, byte(0)
		if first {
			fop, rsv = op, 4
		}
		frames = append(frames, frame(n == len(c), rsv, fop, c[:n], &testMask))
		c = c[n:]
	}
	return frames
}

// decodeMessage decodes frames and inflates the message, as the engine does.
func decodeMessage(d *codec.Decoder, f *codec.Inflater, frames [][]byte) ([]byte, error) {
	for _, fr := range frames {
		ev, n, err := d.Next(fr)
		if err != nil {
			return nil, err
		}
		if n != len(fr) {
			return nil, errors.New("frame not consumed")
		}
		if ev.Kind != codec.KindMessage {
			continue
		}
		if !ev.Compressed {
			return ev.Payload, nil
		}
		limit := d.MaxMessageSize
		if limit <= 0 {
			limit = codec.DefaultMaxMessageSize
		}
		return f.Inflate(ev.Payload, ev.Op == codec.OpText, limit)
	}
	return nil, errors.New("no message")
}

func TestInflateMessages(t *testing.T) {
	big := bytes.Repeat(chatJSON, 100)
	tests := []struct {
		name   string
		op     codec.OpCode
		p      []byte
		frag   int
		limit  int64
		nego   bool
		err    error
		frames [][]byte // instead of op, p, frag
	}{
		{name: "text", op: codec.OpText, p: chatJSON, frag: 1 << 20, nego: true},
		{name: "binary", op: codec.OpBinary, p: []byte{0, 1, 2, 0xff}, frag: 1 << 20, nego: true},
		{name: "fragmented text", op: codec.OpText, p: big, frag: 7, nego: true},
		{name: "fragmented, one byte each", op: codec.OpText, p: chatJSON, frag: 1, nego: true},
		{name: "empty", op: codec.OpText, p: nil, frag: 1, nego: true},
		{name: "exactly the limit", op: codec.OpBinary, p: make([]byte, 5000), frag: 100, limit: 5000, nego: true},
		{name: "one over the limit", op: codec.OpBinary, p: make([]byte, 5001), frag: 100, limit: 5000, nego: true, err: codec.ErrMessageTooBig},
		{name: "bad UTF-8 after inflate", op: codec.OpText, p: []byte("caf\xc3"), frag: 1 << 20, nego: true, err: codec.ErrInvalidUTF8},
		{name: "bad UTF-8 across fragments", op: codec.OpText, p: append(bytes.Repeat([]byte("é"), 100), 0xff), frag: 3, nego: true, err: codec.ErrInvalidUTF8},
		{name: "RSV1 without negotiation", op: codec.OpText, p: chatJSON, frag: 1 << 20, err: codec.ErrNonZeroRsv},
		{name: "RSV1 on a continuation", nego: true, err: codec.ErrCompressedContinuation, frames: [][]byte{
			frame(false, 0, codec.OpText, []byte("ab"), &testMask),
			frame(true, 4, codec.OpContinuation, []byte("cd"), &testMask),
		}},
		{name: "RSV1 on a ping", nego: true, err: codec.ErrCompressedControl, frames: [][]byte{
			frame(true, 4, codec.OpPing, nil, &testMask),
		}},
		{name: "RSV1 on a close", nego: true, err: codec.ErrCompressedControl, frames: [][]byte{
			frame(true, 4, codec.OpClose, nil, &testMask),
		}},
		{name: "RSV2 with deflate", nego: true, err: codec.ErrNonZeroRsv, frames: [][]byte{
			frame(true, 2, codec.OpText, nil, &testMask),
		}},
		{name: "RSV1+RSV2", nego: true, err: codec.ErrNonZeroRsv, frames: [][]byte{
			frame(true, 6, codec.OpText, nil, &testMask),
		}},
		{name: "not deflate", nego: true, err: codec.ErrBadDeflate, frames: [][]byte{
			frame(true, 4, codec.OpText, []byte{0xff, 0xff, 0xff, 0xff}, &testMask), // reserved block type 3
		}},
		{name: "uncompressed message between compressed ones", nego: true, frames: [][]byte{
			frame(true, 0, codec.OpText, []byte("plain"), &testMask),
		}},
		{name: "ping between compressed fragments", nego: true, frames: func() [][]byte {
			fs := compressedFrames(t, codec.OpText, chatJSON, 20)
			return append([][]byte{fs[0], frame(true, 0, codec.OpPing, nil, &testMask)}, fs[1:]...)
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := codec.Decoder{Deflate: tc.nego, MaxMessageSize: tc.limit}
			var f codec.Inflater
			frames := tc.frames
			if frames == nil {
				frames = compressedFrames(t, tc.op, tc.p, tc.frag)
			}
			got, err := decodeMessage(&d, &f, frames)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil {
				if c := codec.CloseCode(err); c != 1002 && c != 1007 && c != 1009 {
					t.Fatalf("close code %d", c)
				}
				return
			}
			if tc.frames == nil && !bytes.Equal(got, tc.p) {
				t.Fatalf("inflated %d bytes, want %d", len(got), len(tc.p))
			}
		})
	}
}

// TestInflateBomb: a few KiB that inflate to 1 GiB stop at the limit, and
// the inflater never allocated more than about the limit for it.
func TestInflateBomb(t *testing.T) {
	// 256 MiB of zeros in about 256 KiB: the sync-flushed compression of
	// 1 MiB of zeros is a run of complete blocks that refer to nothing
	// before them, so 256 copies of it, one after the other, are a valid
	// stream that inflates to 256 MiB.
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	w.Write(make([]byte, 1<<20))
	w.Flush()
	if got := len(inflateStd(t, bytes.Repeat(b.Bytes(), 3)[:3*b.Len()-4])); got != 3<<20 {
		t.Fatalf("3 copies inflate to %d bytes", got) // the construction is sound
	}
	bomb := bytes.Repeat(b.Bytes(), 256)
	bomb = bomb[:len(bomb)-4]
	const limit = 1 << 20
	var f codec.Inflater
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := f.Inflate(bomb, false, limit)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, codec.ErrMessageTooBig) {
		t.Fatalf("err = %v, want ErrMessageTooBig", err)
	}
	// Input copy, output bounded by limit+1 (doubling: under twice that in
	// total), the flate reader (about 40 KiB).
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(len(bomb))+2*limit+256<<10 {
		t.Fatalf("inflating the bomb (%d bytes) allocated %d bytes, limit %d", len(bomb), alloc, limit)
	}
	if f.Held() > 2*(64<<10) {
		t.Fatalf("inflater keeps %d bytes after the bomb", f.Held())
	}
}

// FuzzInflate feeds arbitrary bytes to the inflater (as a compressed
// message) and to the extension negotiation: neither may panic, the output
// never exceeds the limit, and what inflates agrees with the standard
// library.
func FuzzInflate(f *testing.F) {
	f.Add(deflateStd(f, chatJSON), "permessage-deflate; client_max_window_bits")
	f.Add(deflateStd(f, []byte("héllo")), `permessage-deflate; server_max_window_bits="10", x`)
	f.Add([]byte{0xff}, "permessage-deflate;;")
	f.Add(deflateStd(f, make([]byte, 5000)), `a; b="c, d", permessage-deflate; server_no_context_takeover`)
	const limit = 2048
	var inf codec.Inflater
	f.Fuzz(func(t *testing.T, p []byte, header string) {
		d := codec.NegotiateDeflate(header)
		if d.Accepted() != (d.WindowBits >= 8 && d.WindowBits <= 15) || !strings.HasPrefix(d.Response+"permessage-deflate", "permessage-deflate") {
			t.Fatalf("NegotiateDeflate(%q) = %+v", header, d)
		}
		out, err := inf.Inflate(p, false, limit)
		if len(out) > limit {
			t.Fatalf("inflated %d bytes over limit %d", len(out), limit)
		}
		if err != nil {
			if c := codec.CloseCode(err); c != 1002 && c != 1009 {
				t.Fatalf("err %v maps to %d", err, c)
			}
			return
		}
		std := flate.NewReader(bytes.NewReader(append(append([]byte{}, p...), 0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff)))
		var b bytes.Buffer
		if _, err := b.ReadFrom(std); err == nil && !bytes.Equal(b.Bytes(), out) {
			t.Fatalf("inflated %q, stdlib %q", out, b.Bytes())
		}
	})
}
