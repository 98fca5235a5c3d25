package engine_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"edgews/codec"
	"edgews/engine"
)

// The write path's byte stream, checked end to end: a peer with a small
// receive window that reads slowly gets a backlog that spans many events,
// many arena reuses (frames sent with Send are copied into the loop's arena,
// which is reset after each flush), batches of tasks whose shared frames
// (WriteShared) live in buffers that are poisoned and reused as soon as
// Done runs, bursts of more frames than one writev takes (maxIov), frames
// larger than the arena (written at once) and pings in between. gnet copies
// into its outbound buffer what the socket does not take; if anything kept
// a reference instead (an arena slice, an iovec, a shared buffer past Done)
// the peer would read the later bytes in place of the earlier ones. The
// client checks every frame with a strict decoder (RSV bits, opcodes,
// lengths) and every payload byte for byte, in order.

// backlogFrames is how many frames the server sends in all.
const backlogFrames = 3300

// backlogBurst is the range of frames posted in one go, small ones: more
// pending frames for the connection than one writev takes.
const backlogBurstFrom, backlogBurstTo = 900, 2700

// backlogSize is frame seq's payload length.
func backlogSize(seq int) int {
	switch {
	case seq >= backlogBurstFrom && seq < backlogBurstTo:
		return 16 + seq%25
	case backlogPing(seq):
		return 16 + seq%100 // a ping's payload is at most 125 bytes
	case seq%50 == 49:
		return 300 << 10 // over the loop's arena
	case seq%10 == 3:
		return 70_000 // a 64-bit length
	case seq%3 == 0:
		return 16 + seq%112 // around the 7-bit length limit (125, 126)
	}
	return 126 + (seq*37)%4000 // a 16-bit length
}

func backlogPing(seq int) bool { return seq%13 == 5 }

// backlogPayload appends frame seq's payload: its number in 16 hex digits,
// then letters that depend on it (ASCII: valid as text too).
func backlogPayload(b []byte, seq int) []byte {
	b = fmt.Appendf(b, "%016x", seq)
	for i := 16; i < backlogSize(seq); i++ {
		b = append(b, byte('a'+(seq+i)%26))
	}
	return b
}

func backlogOp(seq int) codec.OpCode {
	switch {
	case backlogPing(seq):
		return codec.OpPing
	case seq%4 == 1:
		return codec.OpText
	}
	return codec.OpBinary
}

// backlogWriter is the loop-side state of the test: the connection, the
// next frame's number, and the shared-frame buffers free for reuse.
type backlogWriter struct {
	c    *engine.Conn
	seq  int
	free [][]byte
}

// backlogTask writes the next three frames: even ones shared (WriteShared,
// from a buffer the task owns until Done), odd ones and pings with Send.
type backlogTask struct {
	w    *backlogWriter
	bufs [][]byte
}

func (t *backlogTask) Run(*engine.Loop) {
	w := t.w
	for range 3 {
		seq := w.seq
		w.seq++
		p := backlogPayload(nil, seq)
		if seq%2 == 1 || backlogPing(seq) {
			if err := w.c.Send(backlogOp(seq), p); err != nil {
				panic(err)
			}
			continue
		}
		var b []byte
		if n := len(w.free); n > 0 {
			b, w.free = w.free[n-1][:0], w.free[:n-1]
		}
		b = codec.AppendFrame(b, true, backlogOp(seq), p, nil)
		t.bufs = append(t.bufs, b)
		if err := w.c.WriteShared(b); err != nil {
			panic(err)
		}
	}
}

// Done poisons the shared buffers (0xff: FIN, every RSV bit, a reserved
// opcode) and hands them to the next tasks, as a pool would.
func (t *backlogTask) Done() {
	for _, b := range t.bufs {
		for i := range b[:cap(b)] {
			b[:cap(b)][i] = 0xff
		}
		t.w.free = append(t.w.free, b)
	}
	t.bufs = nil
}

// backlogHandler hands the opened connection to the test.
type backlogHandler struct{ open chan *engine.Conn }

func (h backlogHandler) OnOpen(c *engine.Conn)                      { h.open <- c }
func (backlogHandler) OnMessage(*engine.Conn, codec.OpCode, []byte) {}
func (backlogHandler) OnClose(*engine.Conn, codec.StatusCode, string) {
}

func TestSlowReaderBacklogByteExact(t *testing.T) {
	h := backlogHandler{open: make(chan *engine.Conn, 1)}
	srv := startServer(t, engine.Config{Loops: 1, MaxOutboundBytes: 256 << 20, PingPeriod: -1}, func(s *engine.Server) {
		s.Handle("/backlog", h)
	})

	// A client with a 4 KiB receive window (the kernel doubles it).
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	rc := &rawClient{t: t, conn: conn, br: bufio.NewReaderSize(conn, 4096)}
	rc.dec.Role = codec.RoleClient
	if _, err := io.WriteString(conn, strings.Replace(upgradeReq, "%s", "/backlog", 1)); err != nil {
		t.Fatal(err)
	}
	if head := rc.readHead(); !strings.HasPrefix(head, "HTTP/1.1 101 ") {
		t.Fatalf("upgrade answered %q", head)
	}
	var c *engine.Conn
	select {
	case c = <-h.open:
	case <-time.After(5 * time.Second):
		t.Fatal("no OnOpen")
	}

	w := &backlogWriter{c: c}
	posted := make(chan error, 1)
	go func() {
		for task := 0; task*3 < backlogFrames; task++ {
			if err := c.Loop().Post(&backlogTask{w: w}); err != nil {
				posted <- err
				return
			}
			// Small batches, each its own event, except the burst.
			first := task * 3
			if (first < backlogBurstFrom || first >= backlogBurstTo) && task%7 == 6 {
				time.Sleep(200 * time.Microsecond)
			}
		}
		posted <- nil
	}()

	// Let the backlog build up before reading, then read slowly: small
	// reads with pauses, so that it drains over many events.
	time.Sleep(100 * time.Millisecond)
	var (
		buf   []byte
		tmp   [4096]byte
		reads int
		want  []byte
		seq   int
	)
	deadline := time.Now().Add(60 * time.Second)
	_ = conn.SetReadDeadline(deadline)
	for seq < backlogFrames {
		ev, n, err := rc.dec.Next(buf)
		if err != nil {
			t.Fatalf("frame %d: the server sent an invalid frame: %v (next bytes % x)", seq, err, buf[:min(len(buf), 16)])
		}
		if n == 0 && ev.Kind == codec.KindNone {
			m, err := rc.br.Read(tmp[:])
			if err != nil {
				t.Fatalf("frame %d: read: %v", seq, err)
			}
			buf = append(buf, tmp[:m]...)
			if reads++; reads%32 == 0 && seq < backlogFrames/2 {
				time.Sleep(time.Millisecond)
			}
			continue
		}
		buf = buf[n:]
		if ev.Kind == codec.KindNone {
			continue
		}
		wantOp := backlogOp(seq)
		gotOp := ev.Op
		if ev.Kind == codec.KindPing {
			gotOp = codec.OpPing
		}
		want = backlogPayload(want[:0], seq)
		if gotOp != wantOp || ev.Compressed || string(ev.Payload) != string(want) {
			got := ev.Payload
			if len(got) > 32 {
				got = got[:32]
			}
			t.Fatalf("frame %d: got op %v, %d bytes starting %q; want op %v, %d bytes", seq, gotOp, len(ev.Payload), got, wantOp, len(want))
		}
		seq++
	}
	if err := <-posted; err != nil {
		t.Fatal(err)
	}
	if len(buf) != 0 {
		t.Fatalf("%d bytes after the last frame", len(buf))
	}
}
