package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"edgews/engine"
	"edgews/engine/enginetest"
	"edgews/hub"
	"edgews/hub/web"

	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// recordSockets keeps every WebSocket the page opens in window.sockets,
// before the page's own script runs, so that the test can read their
// negotiated extensions without the page exposing its socket.
func recordSockets() chromedp.Action[chromedp.Void] {
	const src = `(() => {
		const W = window.WebSocket;
		window.sockets = [];
		window.WebSocket = new Proxy(W, {construct(target, args) {
			const ws = new target(...args);
			window.sockets.push(ws);
			return ws;
		}});
	})();`
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: src})
		return err
	})
}

// TestBrowserCompression: with compression on, Chromium's chat page
// negotiates permessage-deflate (its socket's extensions say so), and two
// tabs exchange messages long enough to be compressed both ways: the node
// inflates what Chromium compressed and Chromium inflates the node's
// shared compressed broadcast.
func TestBrowserCompression(t *testing.T) {
	srv := engine.New(engine.Config{Addr: "127.0.0.1:0", Loops: 2, Compression: true})
	h := hub.New(srv, hub.Config{})
	for _, p := range web.Paths() {
		srv.HandleHTTP(p, web.Handler())
	}
	enginetest.Start(t, srv)
	browser := newBrowser(t, 30*time.Second)
	base := "http://" + srv.Addr().String() + "/"
	open := func(name string, ctx context.Context) *page {
		p := &page{t: t, name: name, ctx: ctx}
		p.run("loading the page", recordSockets(), chromedp.Navigate(base+"?name="+name))
		p.status("You are " + name + " in lobby")
		if ext := eval[string](p, `window.sockets[0].extensions`); !strings.HasPrefix(ext, "permessage-deflate") {
			t.Fatalf("%s: ws.extensions = %q, want permessage-deflate", name, ext)
		}
		return p
	}
	ann := open("ann", browser) // starts the browser: its first tab
	tab2, _ := chromedp.NewContext(browser)
	ben := open("ben", tab2)
	if n := srv.Stats().DeflateOpen; n != 2 {
		t.Fatalf("%d open connections negotiated compression, want 2", n)
	}
	before := h.Stats().Compressed.Load()
	long := strings.Repeat("a long line that the browser compresses and the node compresses back ", 4)
	ann.say("", long+"from ann")
	ben.logHas(long + "from ann")
	ben.say("", long+"from ben")
	ann.logHas(long + "from ben")
	if n := h.Stats().Compressed.Load() - before; n < 2 {
		t.Fatalf("%d broadcasts compressed, want at least 2", n)
	}
	if n := srv.Stats().InflateErrors; n != 0 {
		t.Fatalf("%d messages from Chromium did not inflate", n)
	}
}
