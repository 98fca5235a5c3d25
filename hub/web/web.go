// Package web serves the chat's browser page: a single page, embedded in
// the binary, that speaks the hub's JSON protocol (hub.ProtocolJSON) on
// /chat. Plain HTML, CSS and JavaScript, no build step.
//
// Usage:
//
//	h := web.Handler()
//	for _, p := range web.Paths() { // "/", "/chat.js", "/chat.css"
//		srv.HandleHTTP(p, h)
//	}
//
// The page fits phones (from 360 px wide) to desktops: under 700 px the
// room and member list is a drawer; the send row stays above an on-screen
// keyboard. /?name=bob connects at once, and the last name the server
// granted is remembered in localStorage and used on the next visit.
// TestBrowserLayout checks this in Chromium at 390x844 and 1280x800, with
// labels, focus and WCAG AA contrast in both colour schemes, and takes the
// README's pictures (make screenshots).
//
// User text is shown with textContent, never parsed as HTML, and the
// responses carry a Content-Security-Policy that allows only the page's
// own script, so a message such as "<script>" stays text twice over.
package web

import (
	"embed"
	"path"

	"edgews/engine"
)

//go:embed static
var static embed.FS

// asset is one embedded file and its route.
type asset struct {
	route, file, contentType string
}

var assets = []asset{
	{"/", "index.html", "text/html; charset=utf-8"},
	{"/chat.js", "chat.js", "text/javascript; charset=utf-8"},
	{"/chat.css", "chat.css", "text/css; charset=utf-8"},
}

// header is sent with every asset: scripts only from the page's origin
// (no inline script, no eval), WebSocket connections to it, no framing.
var header = []string{
	"Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
	"X-Content-Type-Options: nosniff",
	"Referrer-Policy: no-referrer",
}

// Paths lists the routes Handler answers; register each with
// engine.Server.HandleHTTP (routes are exact paths).
func Paths() []string {
	p := make([]string, len(assets))
	for i, a := range assets {
		p[i] = a.route
	}
	return p
}

// Handler answers GET for the page's routes (see Paths) and 404 for any
// other path. The files are read from the embedded FS once, here, so a
// request costs a map lookup. The returned handler is safe for concurrent
// use; the bodies it returns must not be modified.
func Handler() engine.HTTPHandler {
	byRoute := make(map[string]engine.Response, len(assets))
	for _, a := range assets {
		body, err := static.ReadFile(path.Join("static", a.file))
		if err != nil {
			panic("web: embedded " + a.file + ": " + err.Error()) // the build embeds them all
		}
		byRoute[a.route] = engine.Response{ContentType: a.contentType, Body: body, Header: header}
	}
	return func(r *engine.Request) engine.Response {
		if resp, ok := byRoute[r.Path]; ok {
			return resp
		}
		return engine.Response{Status: 404, Body: []byte("not found\n")}
	}
}
