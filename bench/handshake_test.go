package bench

import (
	"errors"
	"strings"
	"testing"
)

func TestAcceptKeyRFCExample(t *testing.T) {
	// RFC 6455 section 1.3.
	got := acceptFor([]byte("dGhlIHNhbXBsZSBub25jZQ=="))
	if string(got[:]) != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("accept = %s", got)
	}
}

func TestParseUpgradeResponse(t *testing.T) {
	key := []byte("dGhlIHNhbXBsZSBub25jZQ==")
	ok := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
	frame := "\x81\x02hi"
	for _, tc := range []struct {
		name   string
		in     string
		n      int
		reason FailReason // "" for success
		status int
		want   string // substring of the error
	}{
		{name: "whole", in: ok, n: len(ok)},
		{name: "frame in the same read", in: ok + frame, n: len(ok)},
		{name: "partial head", in: ok[:40], n: 0},
		{name: "no CRLF yet", in: "HTTP/1.1 10", n: 0},
		{name: "case-insensitive", in: "HTTP/1.1 101 Switching Protocols\r\nuPgRaDe: WebSocket\r\nconnection: keep-alive, upgrade\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n", n: -1},
		{name: "503 whole", in: "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", reason: ReasonHTTPStatus, status: 503, want: "503 Service Unavailable"},
		{name: "503 status line only", in: "HTTP/1.1 503 Service Unavailable\r\nContent-Le", reason: ReasonHTTPStatus, status: 503},
		{name: "wrong accept", in: strings.Replace(ok, "s3pP", "AAAA", 1), reason: ReasonBadHandshake, want: "Sec-WebSocket-Accept"},
		{name: "no upgrade", in: strings.Replace(ok, "Upgrade: websocket\r\n", "", 1), reason: ReasonBadHandshake, want: "Upgrade"},
		{name: "extension not offered", in: strings.Replace(ok, "\r\n\r\n", "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n", 1), reason: ReasonBadHandshake, want: "extension"},
		{name: "not HTTP", in: "SSH-2.0-OpenSSH\r\n\r\n", reason: ReasonBadHandshake, want: "status line"},
		{name: "head too long", in: "HTTP/1.1 101 OK\r\n" + strings.Repeat("X-Pad: y\r\n", 1000), reason: ReasonBadHandshake, want: "over"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, _, fe := parseUpgradeResponse([]byte(tc.in), key, "127.0.0.1:1", false)
			if tc.reason == "" {
				if fe != nil {
					t.Fatalf("error %v", fe)
				}
				want := tc.n
				if want < 0 {
					want = len(tc.in)
				}
				if n != want {
					t.Fatalf("n = %d, want %d", n, want)
				}
				return
			}
			if fe == nil || fe.Reason != tc.reason || fe.Status != tc.status || !strings.Contains(fe.Msg, tc.want) {
				t.Fatalf("got n=%d err=%+v, want reason %s status %d containing %q", n, fe, tc.reason, tc.status, tc.want)
			}
		})
	}
}

// Fed one byte at a time, the parser waits, then succeeds exactly once the
// head is complete.
func TestParseUpgradeResponseByteByByte(t *testing.T) {
	key := []byte("dGhlIHNhbXBsZSBub25jZQ==")
	ok := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
	for k := 0; k < len(ok); k++ {
		if n, _, fe := parseUpgradeResponse([]byte(ok[:k]), key, "x", false); n != 0 || fe != nil {
			t.Fatalf("after %d bytes: n=%d err=%v", k, n, fe)
		}
	}
	if n, _, fe := parseUpgradeResponse([]byte(ok), key, "x", false); n != len(ok) || fe != nil {
		t.Fatalf("whole: n=%d err=%v", n, fe)
	}
}

func TestUpgradeRequest(t *testing.T) {
	var key [keyLen]byte
	newKey(&key)
	req := string(appendUpgradeRequest(nil, "127.0.0.1:8080", "/chat", key[:], false, ""))
	for _, want := range []string{"GET /chat HTTP/1.1\r\n", "Host: 127.0.0.1:8080\r\n", "Upgrade: websocket\r\n", "Connection: Upgrade\r\n",
		"Sec-WebSocket-Version: 13\r\n", "Sec-WebSocket-Key: " + string(key[:]) + "\r\n"} {
		if !strings.Contains(req, want) {
			t.Errorf("request lacks %q:\n%s", want, req)
		}
	}
	if !strings.HasSuffix(req, "\r\n\r\n") {
		t.Errorf("request does not end the head: %q", req)
	}
}

func TestFailErrorIs(t *testing.T) {
	for _, tc := range []struct {
		fe   *FailError
		want error
	}{
		{&FailError{Reason: ReasonRefused}, ErrRefused},
		{&FailError{Reason: ReasonHTTPStatus, Status: 503}, ErrRefused},
		{fileLimitError(30000, 30000), ErrFileLimit},
		{portLimitError(nil), ErrPortLimit},
		{&FailError{Reason: ReasonHandshakeTimeout}, ErrTimeout},
		{&FailError{Reason: ReasonBadHandshake}, ErrHandshake},
	} {
		if !errors.Is(tc.fe, tc.want) {
			t.Errorf("%+v is not %v", tc.fe, tc.want)
		}
	}
	if msg := fileLimitError(30000, 30000).Error(); !strings.Contains(msg, "30000 connections per process") || !strings.Contains(msg, "--procs") {
		t.Errorf("file limit message: %s", msg)
	}
	if msg := portLimitError(nil).Error(); !strings.Contains(msg, "ip_local_port_range") || !strings.Contains(msg, "--per-source") {
		t.Errorf("port limit message: %s", msg)
	}
}

// With the offer made, a permessage-deflate answer is accepted and
// reported; another extension, or a second one, is still refused.
func TestParseUpgradeResponseDeflate(t *testing.T) {
	key := []byte("dGhlIHNhbXBsZSBub25jZQ==")
	ok := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	ext := "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"
	if n, deflate, fe := parseUpgradeResponse([]byte(ok+ext+"\r\n"), key, "x", true); fe != nil || !deflate || n == 0 {
		t.Fatalf("n=%d deflate=%v err=%v", n, deflate, fe)
	}
	if _, deflate, fe := parseUpgradeResponse([]byte(ok+"\r\n"), key, "x", true); fe != nil || deflate {
		t.Fatalf("declined offer: deflate=%v err=%v", deflate, fe)
	}
	for _, bad := range []string{"Sec-WebSocket-Extensions: x-other\r\n", ext + ext} {
		if _, _, fe := parseUpgradeResponse([]byte(ok+bad+"\r\n"), key, "x", true); fe == nil || fe.Reason != ReasonBadHandshake {
			t.Fatalf("%q: err=%v, want a bad handshake", bad, fe)
		}
	}
	if req := string(appendUpgradeRequest(nil, "h", "/echo", key, true, "")); !strings.Contains(req, "\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n") {
		t.Fatalf("request %q lacks the offer", req)
	}
}
