package hub_test

import (
	"fmt"
	"slices"
	"testing"

	"edgews/codec"
	"edgews/engine"
	"edgews/hub"
)

// newChat returns an in-process node with the hub on n loops.
func newChat(t testing.TB, loops int) (*engine.InProc, *hub.Hub) {
	t.Helper()
	return newChatConfig(t, loops, hub.Config{Shards: 4})
}

// newChatConfig is newChat with a hub configuration.
func newChatConfig(t testing.TB, loops int, cfg hub.Config) (*engine.InProc, *hub.Hub) {
	t.Helper()
	p := engine.NewInProc(engine.Config{}, loops)
	return p, hub.New(p.Server(), cfg)
}

func open(t testing.TB, p *engine.InProc, loop int) *engine.Conn {
	t.Helper()
	c, err := p.Open("/chat", loop, true)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestChatGreetingNamesBroadcast(t *testing.T) {
	p, h := newChat(t, 3)
	var conns []*engine.Conn
	for i := 0; i < 5; i++ {
		c := open(t, p, i%3)
		conns = append(conns, c)
		want := fmt.Sprintf("You are connected! There are %d users here.", i+1)
		if got := p.Received(c); !slices.Equal(got, []string{want}) {
			t.Fatalf("conn %d greeting = %q, want %q", i, got, want)
		}
	}
	if h.Users() != 5 {
		t.Fatalf("Users = %d, want 5", h.Users())
	}
	p.Message(conns[3], codec.OpText, []byte("hello"))
	p.Drain()
	for i, c := range conns {
		if got := p.Received(c); !slices.Equal(got, []string{"[user3]: hello"}) {
			t.Fatalf("conn %d got %q", i, got)
		}
	}
	// Binary messages are not chat (the tutorial handles text frames only).
	p.Message(conns[0], codec.OpBinary, []byte{1, 2})
	p.Drain()
	for i, c := range conns {
		if got := p.Received(c); len(got) != 0 {
			t.Fatalf("conn %d got %q after a binary message", i, got)
		}
	}
}

func TestChatRemovedOnDisconnect(t *testing.T) {
	p, h := newChat(t, 2)
	a, b, c := open(t, p, 0), open(t, p, 1), open(t, p, 0)
	for _, x := range []*engine.Conn{a, b, c} {
		p.Received(x)
	}
	// b vanishes while a broadcast to it is in flight (posted, not yet run).
	p.Message(a, codec.OpText, []byte("one"))
	p.Disconnect(b)
	before := p.Written(b)
	p.Drain()
	if p.Written(b) != before {
		t.Fatalf("written to a closed connection")
	}
	for _, x := range []*engine.Conn{a, c} {
		if got := p.Received(x); !slices.Equal(got, []string{"[user0]: one"}) {
			t.Fatalf("got %q", got)
		}
	}
	if h.Users() != 2 {
		t.Fatalf("Users = %d after a disconnect, want 2", h.Users())
	}
	// A newcomer counts only the users still there, and gets the next name.
	d := open(t, p, 1)
	if got := p.Received(d); !slices.Equal(got, []string{"You are connected! There are 3 users here."}) {
		t.Fatalf("greeting %q", got)
	}
	p.Message(d, codec.OpText, []byte("hi"))
	p.Drain()
	if got := p.Received(a); !slices.Equal(got, []string{"[user3]: hi"}) {
		t.Fatalf("got %q", got)
	}
	if p.Written(b) != before {
		t.Fatalf("written to a closed connection")
	}
}

func TestEchoInProc(t *testing.T) {
	p, _ := newChat(t, 1)
	c, err := p.Open("/echo", 0, true)
	if err != nil {
		t.Fatal(err)
	}
	p.Message(c, codec.OpText, []byte("ping"))
	p.Message(c, codec.OpBinary, []byte{0, 1, 2})
	if got := p.Received(c); !slices.Equal(got, []string{"ping", "\x00\x01\x02"}) {
		t.Fatalf("got %q", got)
	}
}
