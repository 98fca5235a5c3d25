package engine_test

import (
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"edgews/codec"
	"edgews/engine"
	"edgews/engine/enginetest"
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
