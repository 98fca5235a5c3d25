package web_test

import (
	"context"
	"testing"
	"time"

	"edgews/engine"
	"edgews/engine/enginetest"
	"edgews/hub"
	"edgews/hub/web"
	"github.com/chromedp/chromedp"
)

// The application's notices (server API publish) show in the page, and a
// message the application deletes is taken off the log, live and from
// the history shown on entry.
func TestBrowserNoticeAndDelete(t *testing.T) {
	srv := engine.New(engine.Config{Addr: "127.0.0.1:0", Loops: 2})
	h := hub.New(srv, hub.Config{History: 50})
	for _, p := range web.Paths() {
		srv.HandleHTTP(p, web.Handler())
	}
	enginetest.Start(t, srv)
	ctl := h.Control()
	ctx := context.Background()

	bob := dialPeer(t, srv, "bob")
	bob.sayStored(t, "said before alice came")
	p := &page{t: t, name: "alice", ctx: newBrowser(t, 40*time.Second)}
	p.run("loading the page", chromedp.Navigate("http://"+srv.Addr().String()+"/?name=alice"))
	p.status("You are alice in lobby")
	p.logHas("said before alice came")
	bob.say(t, "a rude line")
	p.logHas("a rude line")
	if err := ctl.Publish(ctx, []string{"lobby"}, "the server speaks"); err != nil {
		t.Fatal(err)
	}
	p.logHas("*** the server speaks")
	for _, off := range []uint64{2, 1} { // live, then from the history
		if err := ctl.Delete(ctx, "lobby", off); err != nil {
			t.Fatal(err)
		}
	}
	p.waitJS("the deleted lines taken off", `!document.querySelector('#log').textContent.includes('a rude line') && !document.querySelector('#log').textContent.includes('said before alice came')`)
	p.logHas("*** the server speaks")
	if n := eval[int](p, `document.querySelectorAll('#log li.server').length`); n != 1 {
		t.Fatalf("%d server notices in the log, want 1", n)
	}
}
