package web_test

import (
	"sync"
	"testing"
	"time"

	"edgews/codec"
	"edgews/engine"
	"edgews/engine/enginetest"
	"edgews/hub"
	"edgews/hub/web"
	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"
)

// closableChat is the hub's /chat with a hand on its JSON connections (the
// page's), so that a test can close them from the server's side.
type closableChat struct {
	engine.Handler
	mu    sync.Mutex
	pages []*engine.Conn
}

func (cc *closableChat) Subprotocols() []string {
	return cc.Handler.(engine.Subprotocoler).Subprotocols()
}

func (cc *closableChat) OnOpen(c *engine.Conn) {
	if c.Protocol() == hub.ProtocolJSON {
		cc.mu.Lock()
		cc.pages = append(cc.pages, c)
		cc.mu.Unlock()
	}
	cc.Handler.OnOpen(c)
}

// closeTask closes a connection on its loop (Conn.Close is loop only).
type closeTask struct{ c *engine.Conn }

func (t closeTask) Run(*engine.Loop) { t.c.Close(codec.StatusGoingAway, "server restarting") }
func (t closeTask) Done()            {}

// closeLast closes the last page connection from the server's side.
func (cc *closableChat) closeLast(t *testing.T) {
	cc.mu.Lock()
	c := cc.pages[len(cc.pages)-1]
	cc.mu.Unlock()
	if err := c.Loop().Post(closeTask{c}); err != nil {
		t.Fatal(err)
	}
}

// count is how many log entries contain s.
func (p *page) count(s string) int {
	p.t.Helper()
	return eval[int](p, `Array.from(document.querySelectorAll('#log li')).filter(e => e.textContent.includes(`+jsString(s)+`)).length`)
}

// TestBrowserHistoryAndReconnect: the page shows the room's history on
// entry; when the node closes its connection, it says "reconnecting...",
// reconnects by itself and resumes the room, showing the three messages
// another user sent meanwhile, and nothing twice.
func TestBrowserHistoryAndReconnect(t *testing.T) {
	srv := engine.New(engine.Config{Addr: "127.0.0.1:0", Loops: 2})
	h := hub.New(srv, hub.Config{History: 50})
	cc := &closableChat{Handler: h.Chat()}
	srv.Handle("/chat", cc)
	for _, p := range web.Paths() {
		srv.HandleHTTP(p, web.Handler())
	}
	enginetest.Start(t, srv)

	// bob talks in the lobby and in games, and is back in the lobby
	// (the last line he is sent says so) before alice comes.
	c, _, err := websocket.DefaultDialer.Dial("ws://"+srv.Addr().String()+"/chat?name=bob", nil)
	if err != nil {
		t.Fatal(err)
	}
	bob := &peer{c: c}
	for _, s := range []string{"said before alice came", "/join games", "in games before", "/leave"} {
		bob.say(t, s)
	}
	for {
		_, line, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if string(line) == "*** bob joined lobby" {
			break
		}
	}
	done := make(chan struct{})
	go func() { // then his lines are read and dropped, as dialPeer's
		defer close(done)
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })

	p := &page{t: t, name: "alice", ctx: newBrowser(t, 40*time.Second)}
	p.run("loading the page", chromedp.Navigate("http://"+srv.Addr().String()+"/?name=alice"))
	p.status("You are alice in lobby")
	p.logHas("said before alice came") // the lobby's history, on entry
	if eval[int](p, `document.querySelectorAll('#log li.past').length`) != 1 {
		t.Fatal("the history is not marked as past")
	}
	p.run("joining games", chromedp.SetValue(chromedp.ID("roomname"), "games"), chromedp.Click(chromedp.ID("join")))
	p.status("You are alice in games")
	p.logHas("in games before") // and the room's, on joining it
	bob.say(t, "/join games")
	bob.say(t, "live before the cut")
	p.logHas("live before the cut")

	cc.closeLast(t)
	p.status("reconnecting...")
	for _, s := range []string{"missed one", "missed two", "missed three"} {
		bob.say(t, s)
	}
	p.status("You are alice in games")
	p.logHas("missed three")
	for _, s := range []string{"said before alice came", "in games before", "live before the cut", "missed one", "missed two", "missed three"} {
		if n := p.count(s); n != 1 {
			t.Fatalf("%q is in the log %d times, want once", s, n)
		}
	}
	p.logLacks("some messages were missed") // resumed without a gap
	// The three came with the resumed history (the page was away), after
	// the disconnect line.
	order := eval[string](p, `Array.from(document.querySelectorAll('#log li')).map(e => e.textContent).filter(s => /disconnected|missed|live before/.test(s)).map(s => s.match(/disconnected|missed \w+|live before the cut/)[0]).join(',')`)
	if order != "live before the cut,disconnected,missed one,missed two,missed three" {
		t.Fatalf("log order: %s", order)
	}
	bob.say(t, "live after")
	p.logHas("live after")
	if n := p.count("live after"); n != 1 {
		t.Fatalf("live after: %d times", n)
	}
}
