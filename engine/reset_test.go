package engine_test

import (
	"net"
	"sync"
	"testing"
	"time"

	"edgews/codec"
	"edgews/engine"
	"edgews/engine/enginetest"
)

// The walks of walk_test.go again, on real sockets: a peer resets its
// connection (SO_LINGER 0, then close) after the loop's last read, so the
// loop's next write to it fails and gnet closes it inside that write.

// rst resets a client connection: the kernel sends an RST, not a FIN.
func rst(t testing.TB, c net.Conn) {
	t.Helper()
	if err := c.(*net.TCPConn).SetLinger(0); err != nil {
		t.Error(err)
	}
	_ = c.Close()
}

// loopFunc is a Task that runs f on the loop.
type loopFunc struct {
	f    func(l *engine.Loop)
	done chan struct{}
}

func (t loopFunc) Run(l *engine.Loop) { t.f(l) }
func (t loopFunc) Done()              { close(t.done) }

// onLoop runs f on l as a task and waits until it has run.
func onLoop(t testing.TB, l *engine.Loop, f func(l *engine.Loop)) {
	t.Helper()
	done := make(chan struct{})
	if err := l.Post(loopFunc{f, done}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the loop did not run the task")
	}
}

// connLog records the server side of each connection, in the order they open.
type connLog struct {
	mu    sync.Mutex
	conns []*engine.Conn
}

func (cl *connLog) add(c *engine.Conn) {
	cl.mu.Lock()
	cl.conns = append(cl.conns, c)
	cl.mu.Unlock()
}

func (cl *connLog) all() []*engine.Conn {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return append([]*engine.Conn(nil), cl.conns...)
}

// partialFrame is the header of a masked binary frame of size payload bytes
// and the first n of them.
func partialFrame(size, n int) []byte {
	m := codec.NewMask()
	return append(codec.AppendHeader(nil, true, codec.OpBinary, size, &m), make([]byte, n)...)
}

// resetFixture opens n echo connections on one loop, each holding a
// partial frame: the first 512 KiB, the others 256 KiB.
func resetFixture(t *testing.T, n int) (*engine.Server, *recorder, []*rawClient, []*engine.Conn) {
	log := &connLog{}
	rec := &recorder{configure: log.add}
	srv := startServer(t, engine.Config{Loops: 1}, func(s *engine.Server) { s.Handle("/echo", rec) })
	clients := make([]*rawClient, n)
	for i := range clients {
		clients[i] = dialRaw(t, srv.Addr(), "/echo")
	}
	clients[0].write(partialFrame(800_000, 300_000))
	for _, rc := range clients[1:] {
		rc.write(partialFrame(400_000, 200_000))
	}
	want := int64(512<<10 + (n-1)*256<<10)
	enginetest.CheckFor(t, 5*time.Second, func() bool { return srv.HeldBytes() == want }, "the partial frames held")
	return srv, rec, clients, log.all()
}

// An eviction round whose first victim's peer has reset: the loop survives
// (the round used to dereference the nil the removal left in l.conns), and
// the round evicts what it planned.
func TestEvictionPeerResetGnet(t *testing.T) {
	srv, rec, clients, _ := resetFixture(t, 5)
	l := srv.Loops()[0]
	onLoop(t, l, func(l *engine.Loop) {
		rst(t, clients[0].conn)
		// 1.5 MiB held against 1 MiB: every connection of a class above
		// 256 KiB (the reset one) and a tenth of the 256 KiB class.
		engine.EvictRound(l, 1<<20)
	})
	if ev := srv.Stats().Evicted[engine.DirInbound]; ev != 2 {
		t.Fatalf("evicted %d, want 2", ev)
	}
	enginetest.CheckFor(t, 5*time.Second, func() bool { return rec.count("close") == 2 }, "OnClose of the two evicted")
	// The loop still serves.
	rc := dialRaw(t, srv.Addr(), "/echo")
	rc.write(frame(true, codec.OpText, []byte("alive")))
	if ev, err := rc.next(5 * time.Second); err != nil || string(ev.Payload) != "alive" {
		t.Fatalf("echo after the round: %v %q", err, ev.Payload)
	}
	enginetest.CheckFor(t, 5*time.Second, func() bool { return srv.HeldBytes() == 3*256<<10 }, "the three holders left")
}

// A timer sweep whose first message timeout finds the peer reset still
// times out every connection (the removal used to move the last one into
// the slot the sweep had just passed).
func TestSweepPeerResetGnet(t *testing.T) {
	srv, _, clients, conns := resetFixture(t, 5)
	l := srv.Loops()[0]
	var open []int
	onLoop(t, l, func(l *engine.Loop) {
		for _, c := range conns {
			engine.ExpireMessage(c)
		}
		rst(t, clients[0].conn)
		engine.SweepNow(l)
		for i, c := range conns {
			if c.Open() {
				open = append(open, i)
			}
		}
	})
	if len(open) != 0 || srv.Stats().MessageTimeouts != 5 {
		t.Fatalf("connections %v still open after the sweep; MessageTimeouts %d, want 5", open, srv.Stats().MessageTimeouts)
	}
	for _, rc := range clients[1:] {
		if code := rc.expectClose(5 * time.Second); code != codec.StatusPolicyViolation {
			t.Fatalf("close %d, want 1008", code)
		}
	}
}
