package codec_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"edgews/codec"
)

// errorCase is one rule violation. The offending frame is header followed by
// payload; before holds frames decoded successfully first (to open a
// fragmented message).
type errorCase struct {
	name     string
	role     codec.Role
	maxFrame int64
	maxMsg   int64
	before   [][]byte
	header   []byte
	payload  []byte // already masked when the header says so; nil for header-time errors
	atHeader bool   // the error is due as soon as the header is complete
	want     error
	code     codec.StatusCode
}

func errorCases() []errorCase {
	m := &testMask
	text := codec.OpText
	cases := []errorCase{
		{name: "server role, unmasked frame", header: hdr(true, 0, text, 5, nil), atHeader: true, want: codec.ErrMaskRequired, code: 1002},
		{name: "client role, masked frame", role: codec.RoleClient, header: hdr(true, 0, text, 5, m), atHeader: true, want: codec.ErrMaskUnexpected, code: 1002},
		{name: "rsv1 set", header: hdr(true, 4, text, 5, m), atHeader: true, want: codec.ErrNonZeroRsv, code: 1002},
		{name: "rsv2 set", header: hdr(true, 2, text, 5, m), atHeader: true, want: codec.ErrNonZeroRsv, code: 1002},
		{name: "rsv3 set", header: hdr(true, 1, codec.OpPing, 0, m), atHeader: true, want: codec.ErrNonZeroRsv, code: 1002},
		{name: "ping payload 126", header: hdr(true, 0, codec.OpPing, 126, m), atHeader: true, want: codec.ErrControlTooBig, code: 1002},
		{name: "pong payload 65536", header: hdr(true, 0, codec.OpPong, 65536, m), atHeader: true, want: codec.ErrControlTooBig, code: 1002},
		{name: "close payload 126", header: hdr(true, 0, codec.OpClose, 126, m), atHeader: true, want: codec.ErrControlTooBig, code: 1002},
		{name: "ping fin=0", header: hdr(false, 0, codec.OpPing, 2, m), atHeader: true, want: codec.ErrControlFragmented, code: 1002},
		{name: "close fin=0", header: hdr(false, 0, codec.OpClose, 2, m), atHeader: true, want: codec.ErrControlFragmented, code: 1002},
		{name: "continuation without message", header: hdr(true, 0, codec.OpContinuation, 3, m), atHeader: true, want: codec.ErrUnexpectedContinuation, code: 1002},
		{name: "continuation fin=0 without message", header: hdr(false, 0, codec.OpContinuation, 3, m), atHeader: true, want: codec.ErrUnexpectedContinuation, code: 1002},
		{
			name:   "text inside fragmented message",
			before: [][]byte{frame(false, 0, text, []byte("ab"), m)},
			header: hdr(true, 0, text, 2, m), atHeader: true, want: codec.ErrExpectedContinuation, code: 1002,
		},
		{
			name:   "binary fin=0 inside fragmented message",
			before: [][]byte{frame(false, 0, codec.OpBinary, []byte("ab"), m)},
			header: hdr(false, 0, codec.OpBinary, 2, m), atHeader: true, want: codec.ErrExpectedContinuation, code: 1002,
		},
		{name: "64-bit length with MSB set", header: hdr(true, 0, codec.OpBinary, 1<<63, m), atHeader: true, want: codec.ErrLengthOverflow, code: 1009},
		{name: "64-bit length all ones", header: hdr(true, 0, codec.OpBinary, ^uint64(0), m), atHeader: true, want: codec.ErrLengthOverflow, code: 1009},
		{name: "default MaxFrameSize + 1", header: hdr(true, 0, codec.OpBinary, codec.DefaultMaxFrameSize+1, m), atHeader: true, want: codec.ErrFrameTooBig, code: 1009},
		{name: "huge frame", header: hdr(true, 0, text, 1<<62, m), atHeader: true, want: codec.ErrFrameTooBig, code: 1009},
		{name: "custom MaxFrameSize + 1", maxFrame: 100, header: hdr(true, 0, text, 101, m), atHeader: true, want: codec.ErrFrameTooBig, code: 1009},
		{name: "unfragmented over MaxMessageSize", maxMsg: 100, header: hdr(true, 0, codec.OpBinary, 101, m), atHeader: true, want: codec.ErrMessageTooBig, code: 1009},
		{
			name: "fragments over MaxMessageSize", maxMsg: 100,
			before: [][]byte{frame(false, 0, codec.OpBinary, make([]byte, 60), m), frame(false, 0, codec.OpContinuation, make([]byte, 30), m)},
			header: hdr(true, 0, codec.OpContinuation, 11, m), atHeader: true, want: codec.ErrMessageTooBig, code: 1009,
		},
		{
			name: "fragments over default MaxMessageSize",
			before: [][]byte{
				frame(false, 0, codec.OpBinary, make([]byte, codec.DefaultMaxFrameSize), m),
				frame(false, 0, codec.OpContinuation, make([]byte, codec.DefaultMaxFrameSize), m),
				frame(false, 0, codec.OpContinuation, make([]byte, codec.DefaultMaxFrameSize), m),
				frame(false, 0, codec.OpContinuation, make([]byte, codec.DefaultMaxFrameSize-1), m),
			},
			header: hdr(true, 0, codec.OpContinuation, 2, m), atHeader: true, want: codec.ErrMessageTooBig, code: 1009,
		},
		{name: "text invalid byte", header: hdr(true, 0, text, 1, m), payload: masked("\xff"), want: codec.ErrInvalidUTF8, code: 1007},
		{name: "text surrogate", header: hdr(true, 0, text, 3, m), payload: masked("\xed\xa0\x80"), want: codec.ErrInvalidUTF8, code: 1007},
		{name: "text overlong", header: hdr(true, 0, text, 2, m), payload: masked("\xc0\xaf"), want: codec.ErrInvalidUTF8, code: 1007},
		{name: "text truncated rune", header: hdr(true, 0, text, 3, m), payload: masked("a\xe2\x82"), want: codec.ErrInvalidUTF8, code: 1007},
		{name: "text above U+10FFFF", header: hdr(true, 0, text, 4, m), payload: masked("\xf4\x90\x80\x80"), want: codec.ErrInvalidUTF8, code: 1007},
		{
			name:   "fragmented text ends inside a rune",
			before: [][]byte{frame(false, 0, text, []byte("a\xe2"), m)},
			header: hdr(true, 0, codec.OpContinuation, 1, m), payload: masked("\x82"), want: codec.ErrInvalidUTF8, code: 1007,
		},
		{name: "first fragment invalid", header: hdr(false, 0, text, 3, m), payload: masked("ab\xff"), want: codec.ErrInvalidUTF8, code: 1007},
		{name: "first fragment ends in a lead byte no rune has", header: hdr(false, 0, text, 4, m), payload: masked("abc\xc1"), want: codec.ErrInvalidUTF8, code: 1007},
		{name: "first fragment ends in an overlong prefix", header: hdr(false, 0, text, 5, m), payload: masked("abc\xf0\x80"), want: codec.ErrInvalidUTF8, code: 1007},
		{name: "close payload 1 byte", header: hdr(true, 0, codec.OpClose, 1, m), payload: masked("\x03"), want: codec.ErrCloseTooShort, code: 1002},
		{name: "close reason invalid UTF-8", header: hdr(true, 0, codec.OpClose, 4, m), payload: masked(string(closePayload(1000, "\xc3\x28"))), want: codec.ErrInvalidCloseReason, code: 1007},
	}
	for _, op := range []codec.OpCode{3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf} {
		cases = append(cases, errorCase{
			name: fmt.Sprintf("reserved opcode %#x", byte(op)), header: hdr(true, 0, op, 0, m), atHeader: true, want: codec.ErrReservedOpCode, code: 1002,
		})
	}
	for _, c := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535} {
		cases = append(cases, errorCase{
			name: fmt.Sprintf("close code %d", c), header: hdr(true, 0, codec.OpClose, 2, m), payload: masked(string(closePayload(c, ""))), want: codec.ErrInvalidCloseCode, code: 1002,
		})
	}
	return cases
}

// masked masks s with testMask, as a payload following a header made by hdr
// with &testMask.
func masked(s string) []byte {
	return frame(true, 0, codec.OpBinary, []byte(s), &testMask)[6:]
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range errorCases() {
		t.Run(tc.name, func(t *testing.T) {
			d := codec.Decoder{Role: tc.role, MaxFrameSize: tc.maxFrame, MaxMessageSize: tc.maxMsg}
			for i, f := range tc.before {
				ev, n, err := d.Next(f)
				if err != nil || n != len(f) || ev.Kind != codec.KindNone {
					t.Fatalf("before[%d]: kind %v, n %d, err %v", i, ev.Kind, n, err)
				}
			}
			hl := len(tc.header)
			// One byte short of the header: nothing to say yet.
			if ev, n, err := d.Next(tc.header[:hl-1]); ev.Kind != codec.KindNone || n != 0 || err != nil {
				t.Fatalf("partial header: kind %v, n %d, err %v", ev.Kind, n, err)
			}
			var (
				n   int
				err error
				ev  codec.Event
			)
			if tc.atHeader {
				// Only the header: the error must not wait for the payload.
				ev, n, err = d.Next(bytes.Clone(tc.header))
				if n != hl {
					t.Errorf("n = %d, want the header length %d", n, hl)
				}
			} else {
				f := cat(tc.header, tc.payload)
				if ev, n, err := d.Next(bytes.Clone(f[:len(f)-1])); ev.Kind != codec.KindNone || n != 0 || err != nil {
					t.Fatalf("partial payload: kind %v, n %d, err %v", ev.Kind, n, err)
				}
				ev, n, err = d.Next(f)
				if n != len(f) {
					t.Errorf("n = %d, want the frame length %d", n, len(f))
				}
			}
			if err != tc.want {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if ev.Kind != codec.KindNone {
				t.Errorf("kind = %v with an error", ev.Kind)
			}
			if !strings.HasPrefix(err.Error(), "codec: ") {
				t.Errorf("error %q does not start with \"codec: \"", err)
			}
			if got := codec.CloseCode(err); got != tc.code {
				t.Errorf("CloseCode = %d, want %d", got, tc.code)
			}
			// Sticky until StartDrain or Reset.
			good := frame(true, 0, codec.OpBinary, []byte("x"), &testMask)
			if _, n, err2 := d.Next(good); err2 != tc.want || n != 0 {
				t.Errorf("after the error: n %d, err %v; want 0, %v", n, err2, tc.want)
			}
		})
	}
}

func TestValidCloseCodes(t *testing.T) {
	codes := []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}
	for _, c := range codes {
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			var d codec.Decoder
			f := frame(true, 0, codec.OpClose, closePayload(c, "bye ✓"), &testMask)
			ev, n, err := d.Next(f)
			if err != nil || n != len(f) {
				t.Fatalf("n %d, err %v", n, err)
			}
			if ev.Kind != codec.KindClose || ev.Code != codec.StatusCode(c) || string(ev.Reason) != "bye ✓" {
				t.Fatalf("got %+v", recordOf(ev, nil))
			}
			if !bytes.Equal(ev.Payload, closePayload(c, "bye ✓")) {
				t.Fatalf("payload = %q", ev.Payload)
			}
		})
	}
	t.Run("empty close", func(t *testing.T) {
		var d codec.Decoder
		ev, _, err := d.Next(frame(true, 0, codec.OpClose, nil, &testMask))
		if err != nil || ev.Kind != codec.KindClose || ev.Code != codec.StatusNoStatusRcvd || len(ev.Reason) != 0 {
			t.Fatalf("got %+v, err %v", recordOf(ev, nil), err)
		}
	})
}

func TestLimitsInclusive(t *testing.T) {
	tests := []struct {
		name     string
		maxFrame int64
		maxMsg   int64
		frames   [][]byte
		want     int // payload length of the message
	}{
		{
			name:   "frame of exactly DefaultMaxFrameSize",
			frames: [][]byte{frame(true, 0, codec.OpBinary, make([]byte, codec.DefaultMaxFrameSize), &testMask)},
			want:   codec.DefaultMaxFrameSize,
		},
		{
			name: "message of exactly MaxMessageSize", maxFrame: 60, maxMsg: 100,
			frames: [][]byte{
				frame(false, 0, codec.OpText, bytes.Repeat([]byte("a"), 50), &testMask),
				frame(true, 0, codec.OpContinuation, bytes.Repeat([]byte("b"), 50), &testMask),
			},
			want: 100,
		},
		{
			name: "message of exactly DefaultMaxMessageSize",
			frames: [][]byte{
				frame(false, 0, codec.OpBinary, make([]byte, codec.DefaultMaxFrameSize), &testMask),
				frame(false, 0, codec.OpContinuation, make([]byte, codec.DefaultMaxFrameSize), &testMask),
				frame(false, 0, codec.OpContinuation, make([]byte, codec.DefaultMaxFrameSize), &testMask),
				frame(true, 0, codec.OpContinuation, make([]byte, codec.DefaultMaxFrameSize), &testMask),
			},
			want: codec.DefaultMaxMessageSize,
		},
		{
			name: "unfragmented message of exactly MaxMessageSize", maxMsg: 100,
			frames: [][]byte{frame(true, 0, codec.OpBinary, make([]byte, 100), &testMask)},
			want:   100,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := codec.Decoder{MaxFrameSize: tc.maxFrame, MaxMessageSize: tc.maxMsg}
			var last codec.Event
			for i, f := range tc.frames {
				ev, n, err := d.Next(f)
				if err != nil || n != len(f) {
					t.Fatalf("frame %d: n %d, err %v", i, n, err)
				}
				last = ev
			}
			if last.Kind != codec.KindMessage || len(last.Payload) != tc.want {
				t.Fatalf("kind %v, %d bytes; want message of %d", last.Kind, len(last.Payload), tc.want)
			}
		})
	}
}

func TestCloseCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want codec.StatusCode
	}{
		{"nil", nil, 1000},
		{"protocol", codec.ErrReservedOpCode, 1002},
		{"invalid data", codec.ErrInvalidUTF8, 1007},
		{"too big", codec.ErrMessageTooBig, 1009},
		{"wrapped too big", fmt.Errorf("conn 7: %w", codec.ErrFrameTooBig), 1009},
		{"wrapped protocol", fmt.Errorf("conn 7: %w", codec.ErrMaskRequired), 1002},
		{"other", io.ErrUnexpectedEOF, 1011},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := codec.CloseCode(tc.err); got != tc.want {
				t.Fatalf("CloseCode(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
	if !errors.Is(fmt.Errorf("x: %w", codec.ErrInvalidUTF8), codec.ErrInvalidUTF8) {
		t.Fatal("errors.Is does not see a wrapped codec error")
	}
}

// TestFeedByteByByte feeds a stream one byte at a time, as a slow network
// would, and checks the decoder after every byte: nothing happens until a
// frame is complete, then exactly that frame's event, with the fragment state
// tracked across a ping in the middle of a fragmented message.
func TestFeedByteByByte(t *testing.T) {
	m := &testMask
	type step struct {
		frame      []byte
		want       record // Kind none for a buffered fragment
		fragmented bool   // Fragmented() once the frame is consumed
	}
	steps := []step{
		{frame(true, 0, codec.OpText, []byte("hi"), m), record{Kind: codec.KindMessage, Op: codec.OpText, Payload: "hi"}, false},
		{frame(false, 0, codec.OpText, []byte("Hel"), m), record{}, true},
		{frame(true, 0, codec.OpPing, []byte("p"), m), record{Kind: codec.KindPing, Op: codec.OpPing, Payload: "p"}, true},
		{frame(false, 0, codec.OpContinuation, []byte("lo \xe2"), m), record{}, true},
		{frame(true, 0, codec.OpContinuation, []byte("\x82\xac"), m), record{Kind: codec.KindMessage, Op: codec.OpText, Payload: "Hello €"}, false},
		{frame(true, 0, codec.OpBinary, make([]byte, 300), m), record{Kind: codec.KindMessage, Op: codec.OpBinary, Payload: string(make([]byte, 300))}, false},
		{frame(true, 0, codec.OpClose, closePayload(1000, "bye"), m), record{Kind: codec.KindClose, Op: codec.OpClose, Payload: string(closePayload(1000, "bye")), Code: 1000, Reason: "bye"}, false},
	}
	var d codec.Decoder
	var pending []byte
	for si, s := range steps {
		for i, b := range s.frame {
			pending = append(pending, b)
			ev, n, err := d.Next(pending)
			if err != nil {
				t.Fatalf("step %d byte %d: %v", si, i, err)
			}
			if i < len(s.frame)-1 {
				// Incomplete: nothing consumed, buffer untouched.
				if ev.Kind != codec.KindNone || n != 0 {
					t.Fatalf("step %d byte %d: kind %v, n %d before the frame is complete", si, i, ev.Kind, n)
				}
				if !bytes.Equal(pending, s.frame[:i+1]) {
					t.Fatalf("step %d byte %d: Next modified an incomplete frame", si, i)
				}
				if want := si > 0 && steps[si-1].fragmented; d.Fragmented() != want {
					t.Fatalf("step %d byte %d: Fragmented() = %v, want %v", si, i, d.Fragmented(), want)
				}
				continue
			}
			if n != len(s.frame) {
				t.Fatalf("step %d: n = %d, want %d", si, n, len(s.frame))
			}
			if got := recordOf(ev, err); got != s.want {
				t.Fatalf("step %d: got %+v\nwant %+v", si, got, s.want)
			}
			if d.Fragmented() != s.fragmented {
				t.Fatalf("step %d: Fragmented() = %v, want %v", si, d.Fragmented(), s.fragmented)
			}
			pending = pending[n:]
		}
	}
}

func TestFragmentation(t *testing.T) {
	m := &testMask
	tests := []struct {
		name   string
		frames [][]byte
		want   []record
	}{
		{
			name: "interleaved ping, pong and close",
			frames: [][]byte{
				frame(false, 0, codec.OpText, []byte("Hel"), m),
				frame(true, 0, codec.OpPing, []byte("1"), m),
				frame(false, 0, codec.OpContinuation, []byte("lo "), m),
				frame(true, 0, codec.OpPong, nil, m),
				frame(false, 0, codec.OpContinuation, nil, m),
				frame(true, 0, codec.OpClose, closePayload(1001, ""), m),
				frame(true, 0, codec.OpContinuation, []byte("world"), m),
			},
			want: []record{
				{Kind: codec.KindPing, Op: codec.OpPing, Payload: "1"},
				{Kind: codec.KindPong, Op: codec.OpPong},
				{Kind: codec.KindClose, Op: codec.OpClose, Payload: "\x03\xe9", Code: 1001},
				{Kind: codec.KindMessage, Op: codec.OpText, Payload: "Hello world"},
			},
		},
		{
			name: "binary with empty fragments",
			frames: [][]byte{
				frame(false, 0, codec.OpBinary, nil, m),
				frame(false, 0, codec.OpContinuation, []byte{0, 1}, m),
				frame(true, 0, codec.OpContinuation, nil, m),
				frame(true, 0, codec.OpBinary, []byte{2}, m),
			},
			want: []record{
				{Kind: codec.KindMessage, Op: codec.OpBinary, Payload: "\x00\x01"},
				{Kind: codec.KindMessage, Op: codec.OpBinary, Payload: "\x02"},
			},
		},
		{
			name: "four-byte rune split one byte per fragment",
			frames: [][]byte{
				frame(false, 0, codec.OpText, []byte("\xf0"), m),
				frame(false, 0, codec.OpContinuation, []byte("\x9f"), m),
				frame(false, 0, codec.OpContinuation, []byte("\x98"), m),
				frame(true, 0, codec.OpContinuation, []byte("\x80!"), m),
			},
			want: []record{{Kind: codec.KindMessage, Op: codec.OpText, Payload: "😀!"}},
		},
		{
			name: "invalid UTF-8 fails at the first bad fragment",
			frames: [][]byte{
				frame(false, 0, codec.OpText, []byte("ok \xe2"), m),
				frame(false, 0, codec.OpContinuation, []byte("\x28 more"), m), // E2 28: bad second byte
				frame(true, 0, codec.OpContinuation, []byte("never read"), m),
			},
			want: []record{{Err: codec.ErrInvalidUTF8}},
		},
		{
			name: "surrogate split across fragments fails at the second",
			frames: [][]byte{
				frame(false, 0, codec.OpText, []byte("\xed"), m),
				frame(false, 0, codec.OpContinuation, []byte("\xa0\x80"), m),
			},
			want: []record{{Err: codec.ErrInvalidUTF8}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d codec.Decoder
			var got []record
			for _, f := range tc.frames {
				ev, n, err := d.Next(f)
				if err != nil {
					got = append(got, recordOf(ev, err))
					break
				}
				if n != len(f) {
					t.Fatalf("n = %d, want %d", n, len(f))
				}
				if ev.Kind != codec.KindNone {
					got = append(got, recordOf(ev, err))
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestSplitRuneEverywhere splits a multi-byte text at every pair of positions
// into three fragments: all must decode to the same text.
func TestSplitRuneEverywhere(t *testing.T) {
	text := []byte("a€😀ß\u07ff\uffff\U0010ffffz")
	for i := 0; i <= len(text); i++ {
		for j := i; j <= len(text); j++ {
			var d codec.Decoder
			frames := [][]byte{
				frame(false, 0, codec.OpText, text[:i], &testMask),
				frame(false, 0, codec.OpContinuation, text[i:j], &testMask),
				frame(true, 0, codec.OpContinuation, text[j:], &testMask),
			}
			var ev codec.Event
			for _, f := range frames {
				var err error
				if ev, _, err = d.Next(f); err != nil {
					t.Fatalf("split %d/%d: %v", i, j, err)
				}
			}
			if ev.Kind != codec.KindMessage || !bytes.Equal(ev.Payload, text) {
				t.Fatalf("split %d/%d: got %v %q", i, j, ev.Kind, ev.Payload)
			}
		}
	}
}

func TestFragmentBufferReuse(t *testing.T) {
	var d codec.Decoder
	send := func(size int) {
		t.Helper()
		p := make([]byte, size)
		for _, f := range [][]byte{
			frame(false, 0, codec.OpBinary, p[:size/2], &testMask),
			frame(true, 0, codec.OpContinuation, p[size/2:], &testMask),
		} {
			if _, _, err := d.Next(f); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(1000)
	if c := d.BufCap(); c == 0 || c > codec.KeepMsgBufCap {
		t.Fatalf("small message: buffer cap %d, want kept (<= %d)", c, codec.KeepMsgBufCap)
	}
	send(codec.KeepMsgBufCap * 4)
	if c := d.BufCap(); c != 0 {
		t.Fatalf("large message: buffer cap %d, want it dropped", c)
	}
	send(100)
	d.Reset()
	if c := d.BufCap(); c != 0 {
		t.Fatalf("Reset kept a buffer of cap %d", c)
	}
}

func TestResetKeepsConfig(t *testing.T) {
	d := codec.Decoder{Role: codec.RoleClient, MaxFrameSize: 10, MaxMessageSize: 20}
	d.Next(frame(false, 0, codec.OpText, []byte("ab"), nil))
	d.Next(hdr(true, 0, 0xf, 0, nil))
	d.StartDrain()
	d.Reset()
	if d.Fragmented() || d.Draining() {
		t.Fatal("Reset left state behind")
	}
	if d.Role != codec.RoleClient || d.MaxFrameSize != 10 || d.MaxMessageSize != 20 {
		t.Fatalf("Reset changed the configuration: %+v", d)
	}
	if _, _, err := d.Next(hdr(true, 0, codec.OpText, 11, nil)); err != codec.ErrFrameTooBig {
		t.Fatalf("err = %v, want the configured frame limit", err)
	}
}

func TestDecoderSize(t *testing.T) {
	if codec.DecoderStateSize > 64 {
		t.Fatalf("Decoder is %d bytes without its fragment buffer, want <= 64", codec.DecoderStateSize)
	}
	t.Logf("Decoder: %d bytes + fragment buffer header", codec.DecoderStateSize)
}

func TestFrameSize(t *testing.T) {
	m := [4]byte{1, 2, 3, 4}
	tests := []struct {
		name string
		p    []byte
		want int64
	}{
		{name: "empty", p: nil, want: 0},
		{name: "one byte", p: []byte{0x81}, want: 0},
		{name: "7-bit length, masked", p: codec.AppendFrame(nil, true, codec.OpText, make([]byte, 100), &m), want: 2 + 4 + 100},
		{name: "16-bit length, header only", p: codec.AppendHeader(nil, true, codec.OpBinary, 1000, &m), want: 4 + 4 + 1000},
		{name: "64-bit length, header only", p: codec.AppendHeader(nil, true, codec.OpBinary, 1_000_000, &m), want: 10 + 4 + 1_000_000},
		{name: "64-bit length, header cut", p: codec.AppendHeader(nil, true, codec.OpBinary, 1_000_000, &m)[:9], want: 0},
		{name: "over MaxFrameSize", p: codec.AppendHeader(nil, true, codec.OpBinary, 2_000_000, &m), want: 0},
		{name: "unmasked", p: codec.AppendHeader(nil, true, codec.OpBinary, 1000, nil), want: 0},
		{name: "continuation without a message", p: codec.AppendHeader(nil, true, codec.OpContinuation, 1000, &m), want: 0},
		{name: "length overflow", p: []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d codec.Decoder
			if got := d.FrameSize(tc.p); got != tc.want {
				t.Fatalf("FrameSize = %d, want %d", got, tc.want)
			}
		})
	}
}

// Idle is true between messages and false while a fragmented message, a
// drain or an error is pending; the fragment buffer does not count.
func TestIdle(t *testing.T) {
	var d codec.Decoder
	step := func(f []byte, want bool) {
		t.Helper()
		_, _, _ = d.Next(f)
		if d.Idle() != want {
			t.Fatalf("Idle = %v after %x, want %v", d.Idle(), f[:2], want)
		}
	}
	if !d.Idle() {
		t.Fatal("a new Decoder is not idle")
	}
	step(frame(true, 0, codec.OpText, []byte("a"), &testMask), true)
	step(frame(false, 0, codec.OpText, []byte("b"), &testMask), false)
	step(frame(true, 0, codec.OpContinuation, []byte("c"), &testMask), true)
	if d.BufCap() == 0 {
		t.Fatal("the fragment buffer was not kept")
	}
	step(hdr(true, 0, 0xf, 0, &testMask), false) // a reserved opcode: an error pending
	d.StartDrain()
	if d.Idle() {
		t.Fatal("idle while draining")
	}
	d.Reset()
	if !d.Idle() {
		t.Fatal("not idle after Reset")
	}
}
