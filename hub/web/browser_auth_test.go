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
	hub.New(srv, hub.Config{Auth: v})
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
}
