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

// testLoop returns a loop whose load phase began a second ago, with one
// counted connection: user 0, or the first sender when the scenario has
// senders.
func testLoop(t testing.TB, cfg Config) (*loop, *conn) {
	t.Helper()
	cfg.URL = "ws://127.0.0.1:1"
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	w, err := newWorker(workerSpec{Config: cfg, Hi: cfg.Conns, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	now := nowNanos()
	w.startAt.Store(now - 1e9)
	w.stopAt.Store(now - 1e9 + int64(cfg.Duration))
	l := newLoop(w, nil, 1)
	id := 0
	if cfg.sendersOf() > 0 {
		id = cfg.senderUser(0)
	}
	c := &conn{id: id, l: l, gc: &fakeConn{}, state: stateOpen, idx: -1, hidx: -1, dec: codec.Decoder{Role: codec.RoleClient}, tx: w.newSender(id)}
	l.add(c)
	l.begin(now)
	return l, c
}
