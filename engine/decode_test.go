package engine_test

import (
	"bytes"
	"testing"
	"time"

	"edgews/codec"
	"edgews/engine"
	"edgews/engine/enginetest"
)

// An idle connection keeps no Decoder; one with a fragmented message in
// progress keeps its state across reads while others on the same loop are
// read with the loop's Decoder, and drops it once the message is over and
// no fragment buffer is kept. Per-connection limits hold on one loop.
func TestDecoderOnlyWhileNeeded(t *testing.T) {
	conns := make(chan *engine.Conn, 4)
	rec := &recorder{configure: func(c *engine.Conn) {
		if c.Request().Query("small") == "1" {
			c.SetMaxFrameSize(10)
		}
		conns <- c
	}}
	srv := startServer(t, engine.Config{Loops: 1}, func(s *engine.Server) { s.Handle("/echo", rec) })
	holds := func(c *engine.Conn) (h bool) {
		onLoop(t, c.Loop(), func(*engine.Loop) { h = engine.HoldsDecoder(c) })
		return h
	}
	expect := func(rc *rawClient, want []byte) {
		t.Helper()
		if ev, err := rc.next(5 * time.Second); err != nil || !bytes.Equal(ev.Payload, want) {
			t.Fatalf("echo %v (%d bytes), want %d bytes", err, len(ev.Payload), len(want))
		}
	}
	a := dialRaw(t, srv.Addr(), "/echo")
	ca := <-conns
	b := dialRaw(t, srv.Addr(), "/echo")
	cb := <-conns

	a.write(frame(true, codec.OpText, []byte("whole")))
	expect(a, []byte("whole"))
	if holds(ca) {
		t.Fatal("an idle connection keeps a Decoder")
	}

	a.write(frame(false, codec.OpText, []byte("hel")))
	enginetest.CheckFor(t, 5*time.Second, func() bool { return holds(ca) }, "a Decoder for the fragmented message")
	b.write(frame(true, codec.OpBinary, []byte("between")))
	expect(b, []byte("between"))
	if holds(cb) {
		t.Fatal("the other connection keeps a Decoder")
	}
	a.write(frame(true, codec.OpContinuation, []byte("lo")))
	expect(a, []byte("hello"))
	if !holds(ca) {
		t.Fatal("the small fragment buffer was not kept")
	}

	big := bytes.Repeat([]byte("x"), 64<<10) // over the kept buffer's 4 KiB
	a.write(frame(false, codec.OpBinary, big[:32<<10]))
	a.write(frame(true, codec.OpContinuation, big[32<<10:]))
	expect(a, big)
	if holds(ca) {
		t.Fatal("a Decoder kept after a large fragmented message")
	}

	small := dialRaw(t, srv.Addr(), "/echo?small=1")
	<-conns
	b.write(frame(true, codec.OpText, []byte("more than ten bytes")))
	expect(b, []byte("more than ten bytes"))
	small.write(frame(true, codec.OpText, []byte("more than ten bytes")))
	if code := small.expectClose(5 * time.Second); code != codec.StatusMessageTooBig {
		t.Fatalf("close %d, want 1009 (the connection's limit)", code)
	}
	a.write(frame(true, codec.OpText, []byte("more than ten bytes")))
	expect(a, []byte("more than ten bytes"))
}
