package engine_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"edgews/codec"
	"edgews/engine"
)

// The engine keeps the peer's address as a netip.AddrPort and gnet keeps
// none, nor the poll callback its default reactor never calls (see
// gnettrim.go); Request still reports it, with the path and the query,
// during OnOpen and after, and the connection still reads and writes.
func TestConnAddressesAndRequest(t *testing.T) {
	type seen struct {
		local, remote, sockaddr, safeCtx, callback bool // what gnet still holds
		addr                                       netip.AddrPort
		open, later                                engine.Request
	}
	got := make(chan seen, 1)
	var s seen
	rec := &recorder{
		configure: func(c *engine.Conn) {
			s.local, s.remote, s.sockaddr, s.safeCtx, s.callback = engine.GnetCopies(c)
			s.addr, s.open = c.RemoteAddr(), c.Request()
		},
		onMessage: func(c *engine.Conn, _ codec.OpCode, _ []byte) bool {
			s.later = c.Request()
			got <- s
			return false // echoed
		},
	}
	srv := startServer(t, engine.Config{}, func(s *engine.Server) { s.Handle("/echo", rec) })
	rc := dialRaw(t, srv.Addr(), "/echo?q=1")
	rc.write(frame(true, codec.OpText, []byte("x")))
	client := rc.conn.LocalAddr().(*net.TCPAddr).AddrPort()
	select {
	case s := <-got:
		if s.local || s.remote || s.sockaddr || s.safeCtx || s.callback != engine.GnetPollOpt {
			t.Errorf("gnet still holds copies (local %v, remote %v, sockaddr %v, safe context %v, poll callback %v with poll_opt %v): gnet's conn changed? see gnettrim.go",
				s.local, s.remote, s.sockaddr, s.safeCtx, s.callback, engine.GnetPollOpt)
		}
		if ev, err := rc.next(5 * time.Second); err != nil || ev.Op != codec.OpText || string(ev.Payload) != "x" {
			t.Errorf("echo = %v %q, %v; want text \"x\"", ev.Op, ev.Payload, err)
		}
		if s.addr != client {
			t.Errorf("RemoteAddr = %v, want the client's %v", s.addr, client)
		}
		for _, r := range []engine.Request{s.open, s.later} {
			if r.Method != "GET" || r.Path != "/echo" || r.RawQuery != "q=1" || r.RemoteAddr != client {
				t.Errorf("Request = %+v, want GET /echo?q=1 from %v", r, client)
			}
		}
		if s.open.Header("Host") != "test" || s.later.Header("Host") != "" {
			t.Errorf("Host header in OnOpen %q, later %q: want it in OnOpen only (not in KeepHeaders)", s.open.Header("Host"), s.later.Header("Host"))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no message")
	}
}
