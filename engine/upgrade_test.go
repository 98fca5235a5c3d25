package engine_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edgews/codec"
	"edgews/engine"
	"edgews/engine/enginetest"
	"github.com/panjf2000/gnet/v2/pkg/pool/ringbuffer"
)

// gate is an echo handler with an Upgrader: "?user=NAME" opens with NAME
// as identity, anything else is refused with 401 and a challenge.
type gate struct {
	recorder
	ids chan any
}

func (g *gate) Upgrade(r *engine.Request) (any, *engine.Refusal) {
	if u := r.Query("user"); u != "" {
		return u, nil
	}
	return nil, &engine.Refusal{Status: 401, Header: []string{`WWW-Authenticate: Bearer error="invalid_request"`}, Body: "token required", Reason: "auth_missing"}
}

func (g *gate) OnOpen(c *engine.Conn) {
	g.ids <- c.Value()
	g.recorder.OnOpen(c)
}

func TestUpgraderRefusesAndAttachesIdentity(t *testing.T) {
	g := &gate{ids: make(chan any, 1)}
	srv := startServer(t, engine.Config{MaxConns: 1}, func(s *engine.Server) { s.Handle("/echo", g) })

	conn, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, strings.Replace(upgradeReq, "%s", "/echo?x=1", 1)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, _ := io.ReadAll(conn)
	head := string(resp)
	for _, want := range []string{"HTTP/1.1 401 Unauthorized\r\n", "\r\nWWW-Authenticate: Bearer error=\"invalid_request\"\r\n", "Connection: close", "\r\n\r\ntoken required\n"} {
		if !strings.Contains(head, want) {
			t.Fatalf("refusal %q lacks %q", head, want)
		}
	}
	if n := srv.Stats().RefusedBy["auth_missing"]; n != 1 {
		t.Fatalf("RefusedBy[auth_missing] = %d, want 1", n)
	}
	// The refusal gave back its MaxConns slot: the one connection allowed opens.
	rc := dialRaw(t, srv.Addr(), "/echo?user=alice")
	if id := <-g.ids; id != "alice" {
		t.Fatalf("OnOpen saw Value %v, want the identity alice", id)
	}
	rc.write(frame(true, codec.OpText, []byte("hi")))
	if ev, err := rc.next(5 * time.Second); err != nil || string(ev.Payload) != "hi" {
		t.Fatalf("echo: %v %q", err, ev.Payload)
	}
	if n := g.count("open"); n != 1 {
		t.Fatalf("%d opens, want 1", n)
	}
}

func TestHandleSweepRunsOnEveryLoop(t *testing.T) {
	var runs [2]atomic.Int64
	srv := startServer(t, engine.Config{HandshakeTimeout: 100 * time.Millisecond}, func(s *engine.Server) {
		s.Handle("/echo", &recorder{})
		s.HandleSweep(func(l *engine.Loop) { runs[l.Index()].Add(1) })
	})
	// Loops are known once they served a connection: open one per loop.
	for len(srv.Loops()) < 2 {
		dialRaw(t, srv.Addr(), "/echo")
	}
	enginetest.CheckFor(t, 5*time.Second, func() bool { return runs[0].Load() >= 2 && runs[1].Load() >= 2 }, "two sweeps on each loop")
}

// slowGate is an Upgrader that blocks until released: it stands for a
// verification too slow for the loop.
type slowGate struct {
	recorder
	entered chan string
	release chan struct{}
}

func (g *slowGate) Upgrade(r *engine.Request) (any, *engine.Refusal) {
	g.entered <- r.Query("user")
	<-g.release
	if u := r.Query("user"); u != "mallory" {
		return u, nil
	}
	return nil, &engine.Refusal{Status: 401, Reason: "auth_bad"}
}

// TestUpgradeWorkers runs the Upgrader off the loop: while it blocks, the
// loop serves other connections; its answer completes the handshake on
// the loop, with a frame sent right behind the request delivered after
// OnOpen; refusals and a full queue are real HTTP answers.
func TestUpgradeWorkers(t *testing.T) {
	defer engine.SetUpgradeQueue(1)()
	g := &slowGate{entered: make(chan string, 4), release: make(chan struct{})}
	srv := startServer(t, engine.Config{Loops: 1, UpgradeWorkers: 1}, func(s *engine.Server) {
		s.Handle("/gate", g)
		s.Handle("/echo", &recorder{})
	})
	// alice's request, with a frame right behind it, blocks the worker.
	conn, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := strings.Replace(upgradeReq, "%s", "/gate?user=alice", 1)
	if _, err := conn.Write(append([]byte(req), frame(true, codec.OpText, []byte("early"))...)); err != nil {
		t.Fatal(err)
	}
	if u := <-g.entered; u != "alice" {
		t.Fatalf("upgrader saw %q", u)
	}
	// The one loop still serves: a new connection echoes.
	other := dialRaw(t, srv.Addr(), "/echo")
	other.write(frame(true, codec.OpText, []byte("ping")))
	if ev, err := other.next(5 * time.Second); err != nil || string(ev.Payload) != "ping" {
		t.Fatalf("echo while an upgrade is pending: %v %q", err, ev.Payload)
	}
	// The queue holds one more; a third waiting request is refused.
	bob, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	_, _ = io.WriteString(bob, strings.Replace(upgradeReq, "%s", "/gate?user=mallory", 1))
	enginetest.CheckFor(t, 5*time.Second, func() bool { return srv.Stats().Accepted >= 3 }, "mallory's connection")
	third, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	_, _ = io.WriteString(third, strings.Replace(upgradeReq, "%s", "/gate?user=carol", 1))
	_ = third.SetReadDeadline(time.Now().Add(5 * time.Second))
	if resp, _ := io.ReadAll(third); !strings.HasPrefix(string(resp), "HTTP/1.1 503 ") || !strings.Contains(string(resp), "Retry-After: 1") {
		t.Fatalf("a request over the queue: %q", resp)
	}
	if n := srv.Stats().Refused[engine.ReasonUpgradeBusy]; n != 1 {
		t.Fatalf("Refused[upgrade_busy] = %d", n)
	}
	// Release: alice opens, and her early frame is echoed after the 101.
	close(g.release)
	rc := &rawClient{t: t, conn: conn, br: bufioReader(conn)}
	rc.dec.Role = codec.RoleClient
	rc.dec.MaxFrameSize, rc.dec.MaxMessageSize = 1<<20, 1<<20
	if head := rc.readHead(); !strings.HasPrefix(head, "HTTP/1.1 101 ") {
		t.Fatalf("alice: %q", head)
	}
	if ev, err := rc.next(5 * time.Second); err != nil || string(ev.Payload) != "early" {
		t.Fatalf("the frame sent behind the request: %v %q", err, ev.Payload)
	}
	// mallory is refused by the Upgrader, from the worker's answer.
	_ = bob.SetReadDeadline(time.Now().Add(5 * time.Second))
	if resp, _ := io.ReadAll(bob); !strings.HasPrefix(string(resp), "HTTP/1.1 401 ") {
		t.Fatalf("mallory: %q", resp)
	}
	if n := srv.Stats().RefusedBy["auth_bad"]; n != 1 {
		t.Fatalf("RefusedBy[auth_bad] = %d", n)
	}
}

// TestUpgradeWorkersPeerLeaves closes a connection while its upgrade is
// pending: the worker's answer finds it gone, OnOpen is never called and
// no connection slot is held.
func TestUpgradeWorkersPeerLeaves(t *testing.T) {
	g := &slowGate{entered: make(chan string, 2), release: make(chan struct{})}
	opened := make(chan any, 2)
	g.configure = func(c *engine.Conn) { opened <- c.Value() }
	srv := startServer(t, engine.Config{Loops: 1, UpgradeWorkers: 1}, func(s *engine.Server) { s.Handle("/gate", g) })
	conn, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(conn, strings.Replace(upgradeReq, "%s", "/gate?user=alice", 1))
	<-g.entered
	conn.Close()
	close(g.release)
	// bob's upgrade goes through the same worker and loop after alice's
	// answer: once bob is open, alice's answer has been handled.
	dialRaw(t, srv.Addr(), "/gate?user=bob")
	if id := <-opened; id != "bob" {
		t.Fatalf("OnOpen for %v: alice left before her answer", id)
	}
	if n := srv.OpenConns(); n != 1 {
		t.Fatalf("%d open connections, want 1", n)
	}
}

// TestUpgradeWorkersEarlyBytesBounded sends bytes behind the request while
// the Upgrader decides: they are charged to the memory budget while they
// wait, and once they pass MaxHeaderBytes plus a small allowance the
// connection is refused with 400 and closed (they used to pile up in
// gnet's buffer, unbounded and uncharged).
func TestUpgradeWorkersEarlyBytesBounded(t *testing.T) {
	g := &slowGate{entered: make(chan string, 1), release: make(chan struct{})}
	opened := make(chan any, 2)
	g.configure = func(c *engine.Conn) { opened <- c.Value() }
	srv := startServer(t, engine.Config{Loops: 1, UpgradeWorkers: 1, MaxHeaderBytes: 1024}, func(s *engine.Server) { s.Handle("/gate", g) })
	var release sync.Once
	t.Cleanup(func() { release.Do(func() { close(g.release) }) }) // before the server stops, even on failure
	conn, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	early := frame(true, codec.OpBinary, make([]byte, 2000))
	if _, err := conn.Write(append([]byte(strings.Replace(upgradeReq, "%s", "/gate?user=alice", 1)), early...)); err != nil {
		t.Fatal(err)
	}
	<-g.entered
	enginetest.CheckFor(t, 5*time.Second, func() bool { return srv.HeldBytes() >= 2048 }, "the request and the early frame charged")
	// 1 MiB more while the Upgrader still decides.
	go func() {
		chunk := make([]byte, 16<<10)
		for range 64 {
			if _, err := conn.Write(chunk); err != nil {
				return // the server closed: the rest is refused
			}
		}
	}()
	enginetest.CheckFor(t, 5*time.Second, func() bool { return srv.Stats().Refused[engine.ReasonBadRequest] == 1 }, "the refusal")
	enginetest.CheckFor(t, 5*time.Second, func() bool { return srv.HeldBytes() == 0 }, "the charge released")
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if resp, _ := io.ReadAll(conn); len(resp) > 0 && !strings.HasPrefix(string(resp), "HTTP/1.1 400 ") {
		t.Fatalf("answer %q, want 400 (or a reset, as the peer was still sending)", resp)
	}
	release.Do(func() { close(g.release) })
	// The worker's answer finds the connection gone: bob's upgrade, behind
	// it on the same worker and loop, opens; alice never did.
	dialRaw(t, srv.Addr(), "/gate?user=bob")
	if id := <-opened; id != "bob" || srv.OpenConns() != 1 {
		t.Fatalf("opened %v, %d open", id, srv.OpenConns())
	}
}

// aliasGate opens every upgrade (off the loop, with UpgradeWorkers) and,
// for a message, resets its peer and sends a frame larger than the loop's
// arena: gnet writes it at once, the write fails, and gnet closes the
// connection inside it, handing its buffers back to gnet's process-wide
// pools. It then takes a ring buffer from that pool and fills it, as
// another connection would, and reports whether the payload it was handed
// changed.
type aliasGate struct {
	recorder
	clients chan net.Conn // the client of the next message's connection
	result  chan string   // "" or what went wrong
}

func (g *aliasGate) Upgrade(*engine.Request) (any, *engine.Refusal) { return nil, nil }

func (g *aliasGate) OnMessage(c *engine.Conn, _ codec.OpCode, p []byte) {
	want := string(p)
	client := <-g.clients
	_ = client.(*net.TCPConn).SetLinger(0)
	_ = client.Close() // an RST: the next write fails
	_ = c.Send(codec.OpBinary, make([]byte, 300<<10))
	if c.Open() {
		g.result <- "the write to a reset peer did not close the connection"
		return
	}
	rb := ringbuffer.Get()
	_, _ = rb.Write(bytes.Repeat([]byte{'x'}, rb.Cap())) // in place: no growth
	ringbuffer.Put(rb)
	if string(p) != want {
		g.result <- fmt.Sprintf("payload %.20q... changed under the handler, was %.20q...", p, want)
		return
	}
	g.result <- ""
}

// TestEarlyFramePayloadOwned: a frame that arrived behind the request while
// the Upgrader decided is read in the upgrade's task, where gnet's Peek
// returns its ring buffer's own memory. The payload handed to OnMessage must
// not be that memory: a failed write in the handler closes the connection
// and gnet returns the ring to its pool, where any loop may take it while
// the handler still reads the payload.
func TestEarlyFramePayloadOwned(t *testing.T) {
	g := &aliasGate{clients: make(chan net.Conn, 1), result: make(chan string, 1)}
	srv := startServer(t, engine.Config{Loops: 1, UpgradeWorkers: 1}, func(s *engine.Server) { s.Handle("/alias", g) })
	req := strings.Replace(upgradeReq, "%s", "/alias", 1)
	// sync.Pool drops a quarter of what is put in it under -race: several
	// rounds, so that the ring is reused in some.
	for i := range 8 {
		conn, err := net.Dial("tcp", srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		g.clients <- conn
		payload := bytes.Repeat([]byte{byte('a' + i)}, 100)
		if _, err := conn.Write(append([]byte(req), frame(true, codec.OpBinary, payload)...)); err != nil {
			t.Fatal(err)
		}
		select {
		case res := <-g.result:
			if res != "" {
				t.Fatalf("round %d: %s", i, res)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: no message", i)
		}
	}
}
