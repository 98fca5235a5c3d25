package bench

import (
	"testing"

	"edgews/codec"
	"github.com/panjf2000/gnet/v2"
)

// fakeConn is a gnet.Conn whose Write only counts: enough for the send
// paths. Other methods are not called (the embedded nil interface would
// panic).
type fakeConn struct {
	gnet.Conn
	n int
}

func (f *fakeConn) Write(p []byte) (int, error) { f.n += len(p); return len(p), nil }

func testLoop(t testing.TB, cfg Config) (*loop, *conn) {
	t.Helper()
	cfg.URL = "ws://127.0.0.1:1"
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	w, err := newWorker(workerSpec{Config: cfg, Hi: cfg.Conns})
	if err != nil {
		t.Fatal(err)
	}
	now := nowNanos()
	w.startAt.Store(now - 1e9)
	w.stopAt.Store(now + 3600e9)
	l := newLoop(w, nil, 1)
	c := &conn{l: l, gc: &fakeConn{}, state: stateOpen, idx: -1, hidx: -1, dec: codec.Decoder{Role: codec.RoleClient}}
	return l, c
}
