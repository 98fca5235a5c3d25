package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"edgews/engine/enginetest"
	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

// secretFile writes a 32-byte secret (with a trailing newline, as echo
// leaves it) and returns its path.
func secretFile(t *testing.T) (string, []byte) {
	t.Helper()
	secret := []byte("s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr")
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, append(secret, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, secret
}

// mintToken runs "wsnode token" and returns what it printed.
func mintToken(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(binPath, append([]string{"token"}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("wsnode token %v: %v\n%s", args, err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

func TestTokenCommand(t *testing.T) {
	path, secret := secretFile(t)
	tok := mintToken(t, "--hmac-secret-file", path, "--sub", "u-1", "--name", "Alice", "--ttl", "2h", "--rooms", "dev,team-*", "--nick")
	var c jwt.MapClaims
	parsed, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return secret, nil }, jwt.WithValidMethods([]string{"HS256"}))
	if err != nil || !parsed.Valid {
		t.Fatalf("the printed token does not verify with the trimmed secret: %v", err)
	}
	exp, _ := c.GetExpirationTime()
	if c["sub"] != "u-1" || c["name"] != "Alice" || c["nick"] != true || time.Until(exp.Time) < 119*time.Minute || time.Until(exp.Time) > 2*time.Hour {
		t.Fatalf("claims %v", c)
	}
	if r, _ := c["rooms"].([]any); len(r) != 2 || r[0] != "dev" || r[1] != "team-*" {
		t.Fatalf("rooms %v", c["rooms"])
	}
	short := filepath.Join(t.TempDir(), "short")
	_ = os.WriteFile(short, []byte("tooshort"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--sub", "a"}, "one of --hmac-secret-file and --private-key is required"},
		{[]string{"--hmac-secret-file", path}, "--sub is required"},
		{[]string{"--hmac-secret-file", short, "--sub", "a"}, "at least 32"},
		{[]string{"--hmac-secret-file", path, "--sub", "a b"}, `name "a b"`},
		{[]string{"--hmac-secret-file", path, "--sub", "a", "--ttl", "0"}, "--ttl must be positive"}, // a token always has an exp
	} {
		out, err := exec.Command(binPath, append([]string{"token"}, tc.args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Fatalf("token %v: %v %q, want an error about %q", tc.args, err, out, tc.want)
		}
	}
}

// TestAuthRequiredNeverLogsTokens runs the node with --auth required at
// every log level in both formats, connects with good, bad and missing
// tokens in the query and the Authorization header, and checks the
// answers, the metrics, and that no log line holds a token or the query
// string that carried it.
func TestAuthRequiredNeverLogsTokens(t *testing.T) {
	path, secret := secretFile(t)
	good := mintToken(t, "--hmac-secret-file", path, "--sub", "u-1", "--name", "alice")
	expired, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u-2", "exp": time.Now().Add(-time.Minute).Unix()}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	forged := good[:len(good)-4] + "AAAA"
	for _, format := range []string{"text", "json"} {
		for _, level := range []string{"debug", "info", "warn", "error"} {
			t.Run(format+"/"+level, func(t *testing.T) {
				n := startQuietNode(t, "--auth", "required", "--auth-hmac-secret-file", path, "--auth-leeway", "0",
					"--log-level", level, "--log-format", format)
				base := "ws://" + n.addr
				// Missing: 401 invalid_request.
				_, resp, err := websocket.DefaultDialer.Dial(base+"/chat", nil)
				if err == nil || resp == nil || resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer error="invalid_request"` {
					t.Fatalf("no token: %v %+v", err, resp)
				}
				for _, bad := range []struct{ tok, reason string }{{expired, "expired"}, {forged, "bad_signature"}, {"x.y", "malformed"}} {
					_, resp, err := websocket.DefaultDialer.Dial(base+"/chat?token="+bad.tok+"&name=x", nil)
					if err == nil || resp == nil || resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
						t.Fatalf("%s token: %v %+v", bad.reason, err, resp)
					}
					waitMetric(t, n, `wsnode_handshake_failures_total{reason="auth_`+bad.reason+`"}`, 1)
				}
				waitMetric(t, n, `wsnode_handshake_failures_total{reason="auth_missing"}`, 1)
				// Good, in the query and in the header.
				c, _, err := websocket.DefaultDialer.Dial(base+"/chat?token="+good, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_ = c.WriteMessage(websocket.TextMessage, []byte("/refresh "+good))
				h := http.Header{"Authorization": {"Bearer " + good}, "Sec-WebSocket-Protocol": {"chat.v1+json"}}
				c2, _, err := websocket.DefaultDialer.Dial(base+"/chat", h)
				if err != nil {
					t.Fatal(err)
				}
				defer c2.Close()
				_ = c2.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, p, err := c2.ReadMessage()
				var w struct{ Type, Name string }
				if err != nil || json.Unmarshal(p, &w) != nil || w.Type != "welcome" || w.Name != "alice" {
					t.Fatalf("welcome %q %v", p, err)
				}
				waitMetric(t, n, `wsnode_auth_tokens_total{result="ok"}`, 3) // two connects, one refresh
				c.Close()
				c2.Close()
				waitMetric(t, n, "wsnode_connections_open", 0)
				logs := n.logs()
				if level == "debug" && !strings.Contains(logs, "auth_expired") {
					t.Fatalf("the refusal reason is not logged at debug:\n%s", logs)
				}
				for _, secret := range []string{good, expired, forged, "token=", good[:20], good[len(good)-20:]} {
					if strings.Contains(logs, secret) {
						t.Fatalf("the log holds %q:\n%s", secret, logs)
					}
				}
			})
		}
	}
}

// startQuietNode is startNode for log levels above info, which do not log
// the listening addresses: it picks free ports itself and waits for
// /healthz.
func startQuietNode(t *testing.T, args ...string) *node {
	t.Helper()
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	n := &node{addr: free(), metricsAddr: free(), exited: make(chan error, 1)}
	args = append([]string{"--addr", n.addr, "--metrics-addr", n.metricsAddr, "--loops", "2"}, args...)
	n.cmd = exec.Command(binPath, args...)
	n.cmd.Stderr = &lockedWriter{n: n}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.exited <- n.cmd.Wait() }()
	t.Cleanup(func() {
		if n.cmd.ProcessState == nil {
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := http.Get("http://" + n.metricsAddr + "/healthz"); err == nil {
			resp.Body.Close()
			if c, err := net.Dial("tcp", n.addr); err == nil {
				c.Close()
				return n
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node did not start; log:\n%s", n.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lockedWriter appends a process's output to its node's log.
type lockedWriter struct{ n *node }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.n.mu.Lock()
	defer w.n.mu.Unlock()
	return w.n.log.Write(p)
}

// TestTokenPrivateKeyAndPublicKeysFile signs RS256, ES256 and EdDSA tokens
// with wsnode token --private-key --kid (keys made by openssl, as a user
// would) and connects with them to a node whose --auth-public-keys file
// holds the three public keys, named by kid.
func TestTokenPrivateKeyAndPublicKeysFile(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		enginetest.Missing(t, "openssl not found; install it (apt-get install openssl) to run the RS256/ES256/EdDSA key-file test")
	}
	dir := t.TempDir()
	var pubs bytes.Buffer
	keys := map[string][]string{"rsa": {"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"},
		"ec": {"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"}, "ed": {"-algorithm", "ED25519"}}
	for kid, alg := range keys {
		priv := filepath.Join(dir, kid+".pem")
		if out, err := exec.Command("openssl", append(append([]string{"genpkey"}, alg...), "-out", priv)...).CombinedOutput(); err != nil {
			t.Fatalf("openssl genpkey %s: %v %s", kid, err, out)
		}
		pub, err := exec.Command("openssl", "pkey", "-in", priv, "-pubout").Output()
		if err != nil {
			t.Fatal(err)
		}
		// The kid header goes after the BEGIN line, then a blank line.
		first, rest, _ := strings.Cut(string(pub), "\n")
		pubs.WriteString(first + "\nkid: " + kid + "\n\n" + rest)
	}
	keysFile := filepath.Join(dir, "keys.pem")
	if err := os.WriteFile(keysFile, pubs.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, "--auth", "required", "--auth-public-keys", keysFile)
	for kid := range keys {
		tok := mintToken(t, "--private-key", filepath.Join(dir, kid+".pem"), "--kid", kid, "--sub", "u-"+kid)
		c, _, err := websocket.DefaultDialer.Dial("ws://"+n.addr+"/chat?token="+tok, nil)
		if err != nil {
			t.Fatalf("%s token: %v", kid, err)
		}
		c.Close()
		// The same token under another kid is refused.
		other := map[string]string{"rsa": "ec", "ec": "ed", "ed": "rsa"}[kid]
		bad := mintToken(t, "--private-key", filepath.Join(dir, kid+".pem"), "--kid", other, "--sub", "u-"+kid)
		if _, resp, err := websocket.DefaultDialer.Dial("ws://"+n.addr+"/chat?token="+bad, nil); err == nil || resp.StatusCode != 401 {
			t.Fatalf("%s key under kid %s: %v", kid, other, err)
		}
	}
}

// TestAuthJWKSFlags runs the node with --auth-jwks-url on a local JWKS
// server: an RS256 token signed with the published key opens, the fetches
// are in /metrics, and a node whose JWKS cannot be fetched at start exits
// with an error that says so.
func TestAuthJWKSFlags(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding
	doc := fmt.Sprintf(`{"keys":[{"kty":"RSA","kid":"j1","use":"sig","n":%q,"e":%q}]}`,
		b64.EncodeToString(key.N.Bytes()), b64.EncodeToString(big.NewInt(int64(key.E)).Bytes()))
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/jwks.json" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, doc)
	}))
	defer jwks.Close()
	n := startNode(t, "--auth", "required", "--auth-jwks-url", jwks.URL+"/jwks.json", "--auth-jwks-refresh", "1h")
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": "j", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "j1"
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := websocket.DefaultDialer.Dial("ws://"+n.addr+"/chat?token="+s, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	waitMetric(t, n, `wsnode_auth_jwks_fetches_total{result="ok"}`, 1)
	waitMetric(t, n, `wsnode_auth_jwks_fetches_total{result="error"}`, 0)

	cmd := exec.Command(binPath, "--addr", "127.0.0.1:0", "--auth", "required", "--auth-jwks-url", jwks.URL+"/missing")
	timer := time.AfterFunc(10*time.Second, func() { _ = cmd.Process.Kill() }) // a node that starts anyway must not hang the test
	defer timer.Stop()
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "JWKS") {
		t.Fatalf("JWKS down at start: %v %s", err, out)
	}
}

func TestAuthWorkersAuto(t *testing.T) {
	for _, tc := range []struct {
		a    authFlags
		n    int
		want int
	}{
		{authFlags{mode: "required", keysFile: "k.pem"}, -1, runtime.NumCPU()},
		{authFlags{mode: "optional", jwksURL: "https://idp/jwks"}, -1, runtime.NumCPU()},
		{authFlags{mode: "required", secretFile: "s"}, -1, 0},
		{authFlags{mode: "off", keysFile: "k.pem"}, -1, 0},
		{authFlags{mode: "required", keysFile: "k.pem"}, 0, 0},
		{authFlags{mode: "required", secretFile: "s"}, 3, 3},
	} {
		if got := tc.a.upgradeWorkers(tc.n); got != tc.want {
			t.Errorf("%+v with --auth-workers %d: %d workers, want %d", tc.a, tc.n, got, tc.want)
		}
	}
}

// --auth-name-hold: with --auth optional, a name a token used stays
// reserved from anonymous users after the token disconnects (24h by
// default); 0 frees it as soon as nobody holds it.
func TestAuthNameHoldFlag(t *testing.T) {
	path, _ := secretFile(t)
	tok := mintToken(t, "--hmac-secret-file", path, "--sub", "u-1", "--name", "alice")
	for _, tt := range []struct {
		hold string
		want string // what ?name=alice gets after its greeting
	}{
		{"", `error: name "alice" is reserved for its authenticated user; you are user`},
		{"0", "*** 1 in lobby: alice"},
	} {
		t.Run("hold="+tt.hold, func(t *testing.T) {
			args := []string{"--auth", "optional", "--auth-hmac-secret-file", path}
			if tt.hold != "" {
				args = append(args, "--auth-name-hold", tt.hold)
			}
			n := startNode(t, args...)
			alice, _, err := websocket.DefaultDialer.Dial("ws://"+n.addr+"/chat?token="+tok, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := alice.ReadMessage(); err != nil {
				t.Fatal(err)
			}
			alice.Close()
			waitMetric(t, n, "wsnode_chat_users", 0)
			anon, _, err := websocket.DefaultDialer.Dial("ws://"+n.addr+"/chat?name=alice", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer anon.Close()
			_ = anon.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, p, err := anon.ReadMessage(); err != nil || !strings.HasPrefix(string(p), "You are connected!") {
				t.Fatalf("greeting: %s %v", p, err)
			}
			_ = anon.WriteMessage(websocket.TextMessage, []byte("/users"))
			if _, p, err := anon.ReadMessage(); err != nil || !strings.HasPrefix(string(p), tt.want) {
				t.Fatalf("?name=alice got %q (%v), want %q...", p, err, tt.want)
			}
		})
	}
}

// Tokens without exp, and --auth-max-ttl, against the built node: a
// token without exp is refused by default (401, counted under
// missing_exp, the reason in the debug log and never the token), and
// accepted with --auth-allow-no-exp; with --auth-max-ttl 1h, wsnode
// token's --ttl 1h (exp - iat exactly the bound) opens and --ttl 61m is
// refused (ttl_too_long).
func TestAuthExpiryPolicyFlags(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	path, secret := secretFile(t)
	noExp, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u-9", "iat": time.Now().Unix()}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	dial := func(n *node, tok string) (int, string) {
		t.Helper()
		c, resp, err := websocket.DefaultDialer.Dial("ws://"+n.addr+"/chat?token="+tok, nil)
		if err == nil {
			c.Close()
			return 101, ""
		}
		if resp == nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}
	t.Run("no exp refused by default", func(t *testing.T) {
		n := startNode(t, "--auth", "required", "--auth-hmac-secret-file", path, "--log-level", "debug")
		if code, challenge := dial(n, noExp); code != 401 || challenge != `Bearer error="invalid_token"` {
			t.Fatalf("a token without exp: %d %q, want 401 invalid_token", code, challenge)
		}
		waitMetric(t, n, `wsnode_auth_tokens_total{result="missing_exp"}`, 1)
		waitMetric(t, n, `wsnode_handshake_failures_total{reason="auth_missing_exp"}`, 1)
		if code, _ := dial(n, mintToken(t, "--hmac-secret-file", path, "--sub", "u-1")); code != 101 {
			t.Fatalf("a token of wsnode token: %d", code)
		}
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(n.logs(), "auth_missing_exp") {
			if time.Now().After(deadline) {
				t.Fatalf("the reason is not in the debug log:\n%s", n.logs())
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, part := range []string{noExp, noExp[:20], noExp[len(noExp)-20:], "token="} {
			if strings.Contains(n.logs(), part) {
				t.Fatalf("the log holds %q:\n%s", part, n.logs())
			}
		}
	})
	t.Run("--auth-allow-no-exp", func(t *testing.T) {
		n := startNode(t, "--auth", "required", "--auth-hmac-secret-file", path, "--auth-allow-no-exp")
		if code, _ := dial(n, noExp); code != 101 {
			t.Fatalf("a token without exp with --auth-allow-no-exp: %d", code)
		}
		waitMetric(t, n, `wsnode_auth_tokens_total{result="missing_exp"}`, 0)
	})
	t.Run("--auth-max-ttl", func(t *testing.T) {
		n := startNode(t, "--auth", "required", "--auth-hmac-secret-file", path, "--auth-max-ttl", "1h")
		if code, _ := dial(n, mintToken(t, "--hmac-secret-file", path, "--sub", "u-1", "--ttl", "1h")); code != 101 {
			t.Fatalf("--ttl 1h under --auth-max-ttl 1h: %d", code)
		}
		if code, challenge := dial(n, mintToken(t, "--hmac-secret-file", path, "--sub", "u-1", "--ttl", "61m")); code != 401 || challenge != `Bearer error="invalid_token"` {
			t.Fatalf("--ttl 61m under --auth-max-ttl 1h: %d %q", code, challenge)
		}
		waitMetric(t, n, `wsnode_auth_tokens_total{result="ttl_too_long"}`, 1)
		if code, _ := dial(n, noExp); code != 401 {
			t.Fatalf("no exp under --auth-max-ttl: %d", code)
		}
		waitMetric(t, n, `wsnode_auth_tokens_total{result="missing_exp"}`, 1)
	})
	t.Run("negative --auth-max-ttl", func(t *testing.T) {
		cmd := exec.Command(binPath, "--addr", "127.0.0.1:0", "--auth", "required", "--auth-hmac-secret-file", path, "--auth-max-ttl", "-1h")
		timer := time.AfterFunc(10*time.Second, func() { _ = cmd.Process.Kill() }) // a node that starts anyway must not hang the test
		defer timer.Stop()
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "--auth-max-ttl") {
			t.Fatalf("negative --auth-max-ttl: %v %s", err, out)
		}
	})
}
