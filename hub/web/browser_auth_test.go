package web_test

import (
	"testing"
	"time"

	"edgews/engine"
	"edgews/engine/enginetest"
	"edgews/hub"
	"edgews/hub/auth"
	"edgews/hub/web"
	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"
)

// TestBrowserToken opens the page with #token=... on a node that requires
// tokens: the page connects with it at once and shows the token's name.
func TestBrowserToken(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	v, err := auth.New(auth.Config{Mode: auth.Required, HMACSecret: secret, ValidName: hub.ValidName})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	srv := engine.New(engine.Config{Addr: "127.0.0.1:0", Loops: 2})
	h := hub.New(srv, hub.Config{Auth: v})
	cc := authClosable{&closableChat{Handler: h.Chat()}}
	srv.Handle("/chat", cc)
	for _, p := range web.Paths() {
		srv.HandleHTTP(p, web.Handler())
	}
	enginetest.Start(t, srv)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u-7", "name": "Zoe", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	browser := newBrowser(t, 30*time.Second)
	p := &page{t: t, name: "zoe", ctx: browser}
	p.run("loading the page", chromedp.Navigate("http://"+srv.Addr().String()+"/#token="+tok))
	p.status("You are Zoe in lobby")
	p.members("Zoe")
	// The token left the address once read: the history entry, a
	// bookmark or a copied link do not carry it.
	if href := eval[string](p, `location.href`); href != "http://"+srv.Addr().String()+"/" {
		t.Fatalf("the address after loading is %q, want it without #token=", href)
	}
	// A reconnection still has the token: the node closes the
	// connection, and the page comes back as Zoe.
	cc.closeLast(t)
	p.logHas("disconnected (1001 server restarting)")
	p.status("You are Zoe in lobby")
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if n := len(cc.pages); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

// authClosable is a closableChat that keeps the hub's token check.
type authClosable struct{ *closableChat }

func (a authClosable) Upgrade(r *engine.Request) (any, *engine.Refusal) {
	return a.Handler.(engine.Upgrader).Upgrade(r)
}
