package engine

import (
	"testing"

	"edgews/codec"
)

// One frame larger than MaxOutboundBytes, to a peer that reads, is not
// what closes it as a slow consumer; the frames after it are judged by
// what the peer leaves unread beyond it. A peer that reads nothing is
// still closed once it holds the limit plus that frame, and a large frame
// to a peer already more than half the limit behind closes it.
func TestOversizedFrameToReaderIsNotSlow(t *testing.T) {
	const limit = 64 << 10
	p := NewInProc(Config{MaxOutboundBytes: limit}, 1)
	p.Server().Handle("/echo", fuzzEcho{})
	reader, _ := p.Open("/echo", 0, false)
	stalled, _ := p.Open("/echo", 0, false)
	behind, _ := p.Open("/echo", 0, false)
	p.Stall(stalled, true)
	p.Stall(behind, true)
	big := codec.AppendFrame(nil, true, codec.OpText, make([]byte, 3*limit), nil)
	small := codec.AppendFrame(nil, true, codec.OpText, make([]byte, 1000), nil)

	// The reader and the stalled peer get the big frame, then 40 KB.
	for _, c := range []*Conn{reader, stalled} {
		_ = c.loop.Post(writeTask{c, big})
		for range 40 {
			_ = c.loop.Post(writeTask{c, small})
		}
	}
	// The peer that is behind has 40 KB unread when the big frame comes.
	for range 40 {
		_ = behind.loop.Post(writeTask{behind, small})
	}
	p.Drain()
	_ = behind.loop.Post(writeTask{behind, big})
	p.Drain()
	if p.Closed(reader) {
		t.Fatal("a reader was closed for one frame larger than MaxOutboundBytes")
	}
	if got, want := p.Written(reader), int64(len(big)+40*len(small)); got < want {
		t.Fatalf("the reader got %d bytes, want %d", got, want)
	}
	if p.Closed(stalled) {
		t.Fatal("the stalled peer was closed within the limit plus the big frame")
	}
	if !p.Closed(behind) {
		t.Fatal("a peer more than half the limit behind took a frame larger than the limit")
	}
	// The stalled peer keeps not reading: past the limit plus the big
	// frame it is closed.
	for range 30 {
		_ = stalled.loop.Post(writeTask{stalled, small})
	}
	p.Drain()
	if !p.Closed(stalled) {
		t.Fatal("a peer that reads nothing was not closed past the limit plus the big frame")
	}
	// The reader read the big frame: its allowance is gone, and a burst
	// it does not read is judged by the limit alone.
	_ = reader.loop.Post(writeTask{reader, small})
	p.Drain()
	p.Stall(reader, true)
	for range 70 {
		_ = reader.loop.Post(writeTask{reader, small})
	}
	p.Drain()
	if !p.Closed(reader) || p.srv.Stats().SlowConsumers != 3 {
		t.Fatalf("reader closed %v, SlowConsumers %d: want the reader, once stalled, closed at the limit", p.Closed(reader), p.srv.Stats().SlowConsumers)
	}
}
