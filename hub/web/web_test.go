package web_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"edgews/engine"
	"edgews/engine/enginetest"
	"edgews/hub"
	"edgews/hub/web"
)

// startNode runs engine + hub + the page on 127.0.0.1:0 until the test ends.
func startNode(t *testing.T) *engine.Server {
	t.Helper()
	return startNodeConfig(t, hub.Config{})
}

// startNodeConfig is startNode with a hub configuration.
func startNodeConfig(t *testing.T, cfg hub.Config) *engine.Server {
	t.Helper()
	srv := engine.New(engine.Config{Addr: "127.0.0.1:0", Loops: 2})
	hub.New(srv, cfg)
	h := web.Handler()
	for _, p := range web.Paths() {
		srv.HandleHTTP(p, h)
	}
	enginetest.Start(t, srv)
	return srv
}

func TestHandler(t *testing.T) {
	srv := startNode(t)
	base := "http://" + srv.Addr().String()
	tests := []struct {
		name        string
		path        string
		status      int
		contentType string
		contains    string
	}{
		{"page", "/", 200, "text/html; charset=utf-8", `<script src="/chat.js" defer></script>`},
		{"page with query", "/?name=alice", 200, "text/html; charset=utf-8", `<ol id="log"`},
		{"script", "/chat.js", 200, "text/javascript; charset=utf-8", "chat.v1+json"},
		{"style", "/chat.css", 200, "text/css; charset=utf-8", "#log"},
		{"unknown", "/nope.js", 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(base + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status != 200 {
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != tt.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tt.contentType)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if !strings.Contains(string(body), tt.contains) {
				t.Errorf("body does not contain %q", tt.contains)
			}
		})
	}
}

// The page's script never hands user data to an HTML parser.
func TestScriptUsesTextContent(t *testing.T) {
	h := web.Handler()
	js := string(h(&engine.Request{Path: "/chat.js"}).Body)
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
		if strings.Contains(js, bad) {
			t.Errorf("chat.js uses %s", bad)
		}
	}
	if !strings.Contains(js, "textContent") {
		t.Error("chat.js does not use textContent")
	}
}
