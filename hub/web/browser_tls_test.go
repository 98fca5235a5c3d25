package web_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"edgews/codec/tlsrec/tlstest"
	"edgews/engine"
	"edgews/engine/enginetest"
	"edgews/hub"
	"edgews/hub/web"

	"github.com/chromedp/chromedp"
)

// TestBrowserTLS: Chromium loads the page over https from a node serving
// TLS with a certificate from a test CA (trusted by the CA's key, as a
// private CA would be), and the page's chat runs over wss://: two tabs
// exchange messages through the node's record layer.
func TestBrowserTLS(t *testing.T) {
	ca := tlstest.NewCA(t)
	srv := engine.New(engine.Config{Addr: "127.0.0.1:0", Loops: 2,
		TLS: &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, "127.0.0.1")}}})
	hub.New(srv, hub.Config{})
	for _, p := range web.Paths() {
		srv.HandleHTTP(p, web.Handler())
	}
	enginetest.Start(t, srv)
	browser := newBrowser(t, 30*time.Second, chromedp.Flag("ignore-certificate-errors-spki-list", ca.SPKIHash()))
	base := "https://" + srv.Addr().String() + "/"
	open := func(name string, ctx context.Context) *page {
		p := &page{t: t, name: name, ctx: ctx}
		p.run("loading the page over https", recordSockets(), chromedp.Navigate(base+"?name="+name))
		p.status("You are " + name + " in lobby")
		if url := eval[string](p, `window.sockets[0].url`); !strings.HasPrefix(url, "wss://") {
			t.Fatalf("%s: the page connected to %q, want wss://", name, url)
		}
		return p
	}
	ann := open("ann", browser)
	tab2, _ := chromedp.NewContext(browser)
	ben := open("ben", tab2)
	ann.say("", "hello over wss from ann")
	ben.logHas("hello over wss from ann")
	ben.say("", "and back from ben")
	ann.logHas("and back from ben")
	st := srv.Stats().TLS
	if st.Versions[1] < 4 { // two pages (page, script, style...) and two sockets
		t.Fatalf("%d TLS 1.3 handshakes, want the pages' and the sockets'", st.Versions[1])
	}
	if st.Handshakes[engine.TLSFailed] != 0 {
		t.Fatalf("%d failed handshakes: %+v", st.Handshakes[engine.TLSFailed], st)
	}
}
