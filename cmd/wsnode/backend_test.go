package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"edgews/hub/api/client"
	"github.com/gorilla/websocket"
)

const testAPIKey = "k3y-k3y-k3y-k3y-k3y-k3y"

// apiKeyFile writes testAPIKey (with a newline) and returns its path.
func apiKeyFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "api-key")
	if err := os.WriteFile(path, []byte(testAPIKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var apiAddrRE = regexp.MustCompile(`"?msg"?[=:]"?api listening"?.*?"?addr"?[=:]"?([0-9.:]+)`)

// apiOf is the node's API client, from the address it logged.
func apiOf(t *testing.T, n *node) *client.Client {
	t.Helper()
	m := apiAddrRE.FindStringSubmatch(n.logs())
	if m == nil {
		t.Fatalf("no api address in the log:\n%s", n.logs())
	}
	return client.New("http://"+m[1], testAPIKey)
}

// nextEvent reads c's JSON events until one of type typ.
func nextEvent(t *testing.T, c *websocket.Conn, typ string) map[string]any {
	t.Helper()
	for {
		var ev map[string]any
		if err := json.Unmarshal([]byte(readLine(t, c)), &ev); err != nil {
			t.Fatal(err)
		}
		if ev["type"] == typ {
			return ev
		}
	}
}

// readUntil reads c's lines until want (others are skipped).
func readUntil(t *testing.T, c *websocket.Conn, want string) {
	t.Helper()
	for {
		if readLine(t, c) == want {
			return
		}
	}
}

// closeOf reads c until it is closed and returns its close error.
func closeOf(t *testing.T, c *websocket.Conn) *websocket.CloseError {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("not closed with a close frame: %v", err)
			}
			return ce
		}
	}
}

// refused dials query on n and returns the HTTP status of the refusal.
func refused(t *testing.T, n *node, query string) int {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial("ws://"+n.addr+"/chat"+query, nil)
	if err == nil {
		c.Close()
		return 101
	}
	if resp == nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// apiError is the *client.Error of err, or fails the test.
func apiError(t *testing.T, err error) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("want an API error, got %v", err)
	}
	return e
}

// Every method of the server API against the built node over real HTTP,
// with a text client and a JSON client watching.
func TestServerAPI(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	n := startNode(t, "--api-addr", "127.0.0.1:0", "--api-key-file", apiKeyFile(t), "--chat-rate", "0", "--history", "20")
	api := apiOf(t, n)
	ctx := context.Background()
	tex, _ := chatClient(t, n, "?name=tex")
	jay := jsonClient(t, n, "?name=jay")
	gus, _ := chatClient(t, n, "?name=gus&room=games")

	// publish and broadcast.
	if err := api.Publish(ctx, "lobby", "maintenance at 22:00"); err != nil {
		t.Fatal(err)
	}
	if got := readLine(t, tex); got != "*** maintenance at 22:00" {
		t.Fatalf("text client got %q", got)
	}
	if ev := nextEvent(t, jay, "notice"); ev["text"] != "maintenance at 22:00" || ev["room"] != "lobby" || ev["offset"] != 1.0 {
		t.Fatalf("JSON client got %v", ev)
	}
	if err := api.Broadcast(ctx, []string{"lobby", "games"}, "to both"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*websocket.Conn{tex, gus} {
		if got := readLine(t, c); got != "*** to both" {
			t.Fatalf("broadcast: %q", got)
		}
	}
	nextEvent(t, jay, "notice")

	// presence, rooms, info.
	p, err := api.Presence(ctx, "LOBBY")
	if err != nil || p.Count != 2 || p.Members[0].Name != "jay" || p.Members[1].Name != "tex" || p.Members[0].Node == "" || p.Members[0].Since == 0 {
		t.Fatalf("presence: %+v %v", p, err)
	}
	rooms, err := api.Rooms(ctx)
	if err != nil || len(rooms) != 2 || rooms[0] != (client.Room{Room: "games", Count: 1}) || rooms[1] != (client.Room{Room: "lobby", Count: 2}) {
		t.Fatalf("rooms: %+v %v", rooms, err)
	}
	info, err := api.Info(ctx)
	if err != nil || len(info.Nodes) != 1 || info.Users != 3 || info.Rooms != 2 || info.Nodes[0].Version == "" || info.Nodes[0].Uptime <= 0 {
		t.Fatalf("info: %+v %v", info, err)
	}

	// history and delete.
	_ = tex.WriteMessage(websocket.TextMessage, []byte("rude words"))
	readUntil(t, tex, "[tex]: rude words")
	said := nextEvent(t, jay, "message")
	h, err := api.History(ctx, "lobby", 0)
	if err != nil || len(h.Messages) != 3 || h.Messages[0].Type != "notice" || h.Messages[2].Text != "rude words" || h.Messages[2].Offset != uint64(said["offset"].(float64)) {
		t.Fatalf("history: %+v %v", h, err)
	}
	if err := api.Delete(ctx, "lobby", h.Messages[2].Offset); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, jay, "deleted"); ev["offset"] != said["offset"] || ev["room"] != "lobby" {
		t.Fatalf("deleted: %v", ev)
	}
	if e := apiError(t, api.Delete(ctx, "lobby", h.Messages[2].Offset)); e.Status != 404 || e.Code != "not_found" {
		t.Fatalf("deleting again: %v", e)
	}
	if h2, _ := api.HistorySince(ctx, "lobby", 1, h.Epoch); h2.Reset || len(h2.Messages) != 1 || h2.Messages[0].Text != "to both" {
		t.Fatalf("history since 1 after the delete: %+v", h2)
	}

	// mute and unmute.
	if err := api.Mute(ctx, client.Name("TEX"), "", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	_ = tex.WriteMessage(websocket.TextMessage, []byte("muted?"))
	if got := readLine(t, tex); got != "error: you are muted for 30 s" && got != "error: you are muted for 29 s" {
		t.Fatalf("muted sender got %q", got)
	}
	if ok, err := api.Unmute(ctx, client.Name("tex"), ""); !ok || err != nil {
		t.Fatalf("unmute: %v %v", ok, err)
	}
	_ = tex.WriteMessage(websocket.TextMessage, []byte("free"))
	if ev := nextEvent(t, jay, "message"); ev["text"] != "free" {
		t.Fatalf("after unmute jay got %v (the muted line reached it?)", ev)
	}
	readUntil(t, tex, "[tex]: free")

	// disconnect.
	if k, err := api.Disconnect(ctx, client.Name("jay"), 4001, "bye jay"); err != nil || k != 1 {
		t.Fatalf("disconnect: %d %v", k, err)
	}
	if ce := closeOf(t, jay); ce.Code != 4001 || ce.Text != "bye jay" {
		t.Fatalf("jay closed with %v", ce)
	}

	// ban and unban: by name (the upgrade and /nick), by address.
	if k, err := api.Ban(ctx, client.Name("gus"), time.Minute, "spam"); err != nil || k != 1 {
		t.Fatalf("ban: %d %v", k, err)
	}
	if ce := closeOf(t, gus); ce.Code != 1008 || ce.Text != "banned" {
		t.Fatalf("gus closed with %v", ce)
	}
	if code := refused(t, n, "?name=Gus"); code != 403 {
		t.Fatalf("a banned name connects: %d", code)
	}
	_ = tex.WriteMessage(websocket.TextMessage, []byte("/nick gus"))
	if got := readLine(t, tex); got != `error: name "gus" is banned` {
		t.Fatalf("/nick to a banned name: %q", got)
	}
	bans, _, err := api.Bans(ctx)
	if err != nil || len(bans) != 1 || bans[0].Name != "gus" || bans[0].Reason != "spam" || time.Until(bans[0].Until) < 50*time.Second {
		t.Fatalf("bans: %+v %v", bans, err)
	}
	if ok, err := api.Unban(ctx, client.Name("gus")); !ok || err != nil {
		t.Fatalf("unban: %v %v", ok, err)
	}
	if code := refused(t, n, "?name=gus"); code != 101 {
		t.Fatalf("after unban: %d", code)
	}
	if k, err := api.Ban(ctx, client.IP("127.0.0.1"), time.Minute, ""); err != nil || k < 1 {
		t.Fatalf("ban ip: %d %v", k, err)
	}
	if code := refused(t, n, ""); code != 403 {
		t.Fatalf("a banned address connects: %d", code)
	}
	if ok, _ := api.Unban(ctx, client.IP("::ffff:127.0.0.1")); !ok {
		t.Fatal("unban of the address (IPv4-mapped) found nothing")
	}
	waitMetric(t, n, "wsnode_banned_refused_total", 2)
	waitMetric(t, n, "wsnode_notices_total", 3)
	waitMetric(t, n, `wsnode_api_calls_total{method="ban",status="200"}`, 2)
}

// post sends a raw request to the API and returns its status and error
// code.
func post(t *testing.T, url, body string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Error struct{ Code string }
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &out) != nil {
		t.Fatalf("%s: not a JSON answer: %q", url, b)
	}
	return resp.StatusCode, out.Error.Code
}

// The API's refusals: wrong or missing key 401, bad JSON and bad fields
// 400, unknown method 404, not a POST 405, a body over 64 KiB 413; the
// key (and the wrong one tried) never in the log, at any level.
func TestServerAPIRefusalsNeverLogKey(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	keyFile := apiKeyFile(t)
	const wrongKey = "wrong-wrong-wrong-key"
	for _, level := range []string{"debug", "info", "warn", "error"} {
		t.Run(level, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			apiAddr := ln.Addr().String()
			ln.Close()
			n := startQuietNode(t, "--api-addr", apiAddr, "--api-key-file", keyFile, "--log-level", level)
			base := "http://" + apiAddr + "/api/"
			key := []string{"X-API-Key", testAPIKey}
			tests := []struct {
				name, method, body string
				header             []string
				status             int
				code               string
			}{
				{"no key", "info", "", nil, 401, "unauthorized"},
				{"wrong key", "info", "", []string{"X-API-Key", wrongKey}, 401, "unauthorized"},
				{"wrong key in Authorization", "info", "", []string{"Authorization", "apikey " + wrongKey}, 401, "unauthorized"},
				{"bearer is not apikey", "info", "", []string{"Authorization", "Bearer " + testAPIKey}, 401, "unauthorized"},
				{"unknown method without a key", "nope", "", nil, 401, "unauthorized"},
				{"key in Authorization", "info", "", []string{"Authorization", "ApiKey " + testAPIKey}, 200, ""},
				{"key", "rooms", "{}", key, 200, ""},
				{"unknown method", "nope", "{}", key, 404, "unknown_method"},
				{"bad JSON", "publish", `{"room":`, key, 400, "bad_json"},
				{"not an object", "publish", `[1,2]`, key, 400, "bad_json"},
				{"two objects", "publish", `{"room":"a","text":"b"}{}`, key, 400, "bad_json"},
				{"unknown field", "publish", `{"room":"lobby","txt":"hi"}`, key, 400, "bad_request"},
				{"field of the wrong type", "publish", `{"room":5,"text":"hi"}`, key, 400, "bad_request"},
				{"invalid room", "publish", `{"room":"../x","text":"hi"}`, key, 400, "bad_request"},
				{"no room", "publish", `{"text":"hi"}`, key, 400, "bad_request"},
				{"bad ttl", "mute", `{"name":"a","ttl":"soon"}`, key, 400, "bad_request"},
				{"no ttl", "ban", `{"name":"a"}`, key, 400, "bad_request"},
				{"two targets", "disconnect", `{"name":"a","user":"b"}`, key, 400, "bad_request"},
				{"bad code", "disconnect", `{"name":"a","code":1006}`, key, 400, "bad_request"},
				{"code out of range", "disconnect", `{"name":"a","code":70000}`, key, 400, "bad_request"},
				{"bad ip", "ban", `{"ip":"1.2.3","ttl":"1m"}`, key, 400, "bad_request"},
				{"no offset", "delete", `{"room":"lobby"}`, key, 400, "bad_request"},
				{"too large", "publish", `{"room":"lobby","text":"` + strings.Repeat("x", 70<<10) + `"}`, key, 413, "too_large"},
			}
			for _, tt := range tests {
				if status, code := post(t, base+tt.method, tt.body, tt.header...); status != tt.status || code != tt.code {
					t.Errorf("%s: %d %q, want %d %q", tt.name, status, code, tt.status, tt.code)
				}
			}
			resp, err := http.Get(base + "info")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Errorf("GET without a key: %d", resp.StatusCode)
			}
			req, _ := http.NewRequest(http.MethodGet, base+"info", nil)
			req.Header.Set("X-API-Key", testAPIKey)
			if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
				t.Errorf("GET: %v %v", resp, err)
			} else {
				resp.Body.Close()
			}
			if err := n.cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			<-n.exited
			logs := n.logs()
			if level == "debug" && !strings.Contains(logs, "api: call") {
				t.Fatalf("no API call logged at debug:\n%s", logs)
			}
			for _, secret := range []string{testAPIKey, wrongKey, testAPIKey[:10], testAPIKey[len(testAPIKey)-10:]} {
				if strings.Contains(logs, secret) {
					t.Fatalf("the log holds %q:\n%s", secret, logs)
				}
			}
		})
	}
}

// The flags that go together are checked at start.
func TestBackendFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--api-addr", "127.0.0.1:0"},
		{"--events-url", "http://127.0.0.1:1/"},
		{"--events-nats"},
		{"--events-url", "http://127.0.0.1:1/", "--events-secret-file", "x", "--events-queue", "300000000"},
	} {
		var stderr bytes.Buffer
		cmd := execNode(args...)
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee interface{ ExitCode() int }
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%v: %v, want exit 2\n%s", args, err, stderr.String())
		}
	}
	short := filepath.Join(t.TempDir(), "short")
	_ = os.WriteFile(short, []byte("short"), 0o600)
	var stderr bytes.Buffer
	cmd := execNode("--api-addr", "127.0.0.1:0", "--api-key-file", short)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), "at least 16 bytes") {
		t.Fatalf("a short key: %v\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "short\n") {
		t.Fatal("the key is in the log")
	}
}

// execNode is the node's command line on a free port.
func execNode(args ...string) *exec.Cmd {
	return exec.Command(binPath, append([]string{"--addr", "127.0.0.1:0"}, args...)...)
}
