package engine

import (
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name    string
		head    string
		wantErr error
		path    string
		query   string
	}{
		{"ok", "GET /chat?name=bob HTTP/1.1\r\nHost: a\r\n\r\n", nil, "/chat", "name=bob"},
		{"no query", "GET /echo HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n", nil, "/echo", ""},
		{"http/1.0", "GET / HTTP/1.0\r\nHost: a\r\n\r\n", errBadVersion, "", ""},
		{"not http", "GET / SPDY/3\r\nHost: a\r\n\r\n", errBadRequestLine, "", ""},
		{"absolute uri", "GET http://x/ HTTP/1.1\r\nHost: a\r\n\r\n", errBadRequestLine, "", ""},
		{"two spaces missing", "GET\r\nHost: a\r\n\r\n", errBadRequestLine, "", ""},
		{"header without colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", errBadHeaderLine, "", ""},
		{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", errBadHeaderLine, "", ""},
		{"no host", "GET / HTTP/1.1\r\nX: y\r\n\r\n", errNoHost, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if end := headerEnd([]byte(tt.head)); end != len(tt.head) {
				t.Fatalf("headerEnd = %d, want %d", end, len(tt.head))
			}
			r, err := parseRequest([]byte(tt.head))
			if err != tt.wantErr {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (r.Path != tt.path || r.RawQuery != tt.query) {
				t.Fatalf("path %q query %q", r.Path, r.RawQuery)
			}
		})
	}
	if headerEnd([]byte("GET / HTTP/1.1\r\nHost: a\r\n")) != -1 {
		t.Fatal("an unterminated head was taken as complete")
	}
}

func TestRequestHeaderAndQuery(t *testing.T) {
	r, err := parseRequest([]byte("GET /c?name=a%20b&x=1 HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Protocol: chat.v1+json, other\r\norigin:  http://o  \r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Header("ORIGIN"); got != "http://o" {
		t.Fatalf("Header(ORIGIN) = %q", got)
	}
	if got := r.Header("missing"); got != "" {
		t.Fatalf("Header(missing) = %q", got)
	}
	if got := r.Query("name"); got != "a b" {
		t.Fatalf("Query(name) = %q", got)
	}
	if got := selectProtocol(r.Header("Sec-WebSocket-Protocol"), []string{"other", "chat.v1+json"}); got != "chat.v1+json" {
		t.Fatalf("selectProtocol = %q, want the client's first choice", got)
	}
	if got := selectProtocol("x, y", []string{"z"}); got != "" {
		t.Fatalf("selectProtocol = %q, want none", got)
	}
}

func TestCheckUpgrade(t *testing.T) {
	base := map[string]string{"Upgrade": "websocket", "Connection": "keep-alive, Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"}
	build := func(method string, drop, override string, val string) *Request {
		var b strings.Builder
		b.WriteString("Host: h\r\n")
		for k, v := range base {
			if k == drop {
				continue
			}
			if k == override {
				v = val
			}
			b.WriteString(k + ": " + v + "\r\n")
		}
		return &Request{Method: method, Path: "/", header: b.String()}
	}
	tests := []struct {
		name string
		req  *Request
		want error
	}{
		{"ok", build("GET", "", "", ""), nil},
		{"upgrade case-insensitive", build("GET", "", "Upgrade", "WebSocket"), nil},
		{"post", build("POST", "", "", ""), errBadMethod},
		{"no upgrade", build("GET", "Upgrade", "", ""), errBadUpgrade},
		{"no connection", build("GET", "Connection", "", ""), errBadConnection},
		{"connection close", build("GET", "", "Connection", "close"), errBadConnection},
		{"no key", build("GET", "Sec-WebSocket-Key", "", ""), errBadKey},
		{"short key", build("GET", "", "Sec-WebSocket-Key", "AAAA"), errBadKey},
		{"version 8", build("GET", "", "Sec-WebSocket-Version", "8"), errBadWSVersion},
		{"no version", build("GET", "Sec-WebSocket-Version", "", ""), errBadWSVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := checkUpgrade(tt.req); err != tt.want {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// The example of RFC 6455 section 1.3.
func TestAcceptKey(t *testing.T) {
	if got := string(appendAccept(nil, "dGhlIHNhbXBsZSBub25jZQ==")); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("accept = %q", got)
	}
}
