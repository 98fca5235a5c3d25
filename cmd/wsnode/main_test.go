package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"edgews/codec"
	"edgews/engine"
	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wsnode-test")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "wsnode")
	if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := 0
	func() {
		defer os.RemoveAll(dir)
		var opts []goleak.Option
		for _, f := range engine.ProcessGoroutines() {
			opts = append(opts, goleak.IgnoreTopFunction(f))
		}
		// Pebble's validation authority (TestACMEPebble) never stops its
		// task loop.
		opts = append(opts, goleak.IgnoreAnyFunction("github.com/letsencrypt/pebble/v2/va.VAImpl.processTasks"))
		goleak.VerifyTestMain(exitCatcher{&code, m}, opts...)
	}()
	os.Exit(code)
}

// exitCatcher lets TestMain clean up after VerifyTestMain's os.Exit would.
type exitCatcher struct {
	code *int
	m    *testing.M
}

func (e exitCatcher) Run() int { *e.code = e.m.Run(); return *e.code }

func TestEveryFlagIsGroupedAndDocumented(t *testing.T) {
	var o options
	fs, groups := newFlagSet(&o, io.Discard)
	grouped := map[string]bool{}
	for _, g := range groups {
		for _, n := range g.flags {
			if fs.Lookup(n) == nil {
				t.Errorf("group %s lists unknown flag %s", g.title, n)
			}
			grouped[n] = true
		}
	}
	var help bytes.Buffer
	fs.SetOutput(&help)
	fs.Usage()
	fs.VisitAll(func(f *flagT) {
		if !grouped[f.Name] {
			t.Errorf("flag --%s is in no --help group", f.Name)
		}
		if !strings.Contains(help.String(), "--"+f.Name+" ") || !strings.Contains(help.String(), "$"+envName(f.Name)) {
			t.Errorf("--help does not show --%s with $%s", f.Name, envName(f.Name))
		}
	})
}

func TestEnvironmentSetsFlags(t *testing.T) {
	env := map[string]string{"WSNODE_MAX_CONNS": "7", "WSNODE_PING_PERIOD": "3s", "WSNODE_ADDR": "127.0.0.1:9", "WSNODE_REUSEPORT": "true"}
	var o options
	fs, _ := newFlagSet(&o, io.Discard)
	if err := parse(fs, []string{"--addr", "127.0.0.1:1"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if o.engine.MaxConns != 7 || o.engine.PingPeriod != 3*time.Second || !o.engine.ReusePort {
		t.Fatalf("env not applied: %+v", o.engine)
	}
	if o.engine.Addr != "127.0.0.1:1" {
		t.Fatalf("addr %q: the command line must win over the environment", o.engine.Addr)
	}
	var o2 options
	fs2, _ := newFlagSet(&o2, io.Discard)
	err := parse(fs2, nil, func(k string) string { return map[string]string{"WSNODE_MAX_CONNS": "many"}[k] })
	if err == nil || !strings.Contains(err.Error(), "WSNODE_MAX_CONNS") {
		t.Fatalf("bad env value: err %v, want one naming the variable", err)
	}
}

func TestVersionAndHelp(t *testing.T) {
	out, err := exec.Command(binPath, "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "wsnode ") {
		t.Fatalf("--version: %q %v", out, err)
	}
	cmd := exec.Command(binPath, "--help")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("--help exit: %v", err)
	}
	for _, g := range []string{"Network:", "WebSocket:", "Limits:", "Chat:", "History:", "Operations:", "--chat-rate", "--history-max-bytes"} {
		if !strings.Contains(stderr.String(), g) {
			t.Fatalf("--help lacks group %s", g)
		}
	}
	if err := exec.Command(binPath, "--no-such-flag").Run(); err == nil {
		t.Fatal("an unknown flag did not fail")
	}
}

// node is a running wsnode process.
type node struct {
	cmd         *exec.Cmd
	addr        string
	metricsAddr string
	mu          sync.Mutex
	log         bytes.Buffer
	exited      chan error
}

var addrRE = regexp.MustCompile(`"?msg"?[=:]"?(listening|metrics listening)"?.*?"?addr"?[=:]"?([0-9.:]+)`)

// startNode runs the binary on 127.0.0.1:0 with a metrics port, and waits
// until both listen.
func startNode(t *testing.T, args ...string) *node {
	t.Helper()
	return startCmd(t, nodeCommand(args...))
}

// nodeCommand is startNode's command line, for a caller to change first.
func nodeCommand(args ...string) *exec.Cmd {
	args = append([]string{"--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--loops", "2"}, args...)
	return exec.Command(binPath, args...)
}

// startCmd runs a node command line and waits until it listens.
func startCmd(t *testing.T, cmd *exec.Cmd) *node {
	t.Helper()
	n, ready := launch(t, cmd)
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatalf("node did not start; log:\n%s", n.logs())
	}
	return n
}

// launch runs a node command line; ready is closed once it listens (on
// both ports), exited receives its end.
func launch(t *testing.T, cmd *exec.Cmd) (n *node, ready <-chan struct{}) {
	t.Helper()
	n = &node{cmd: cmd, exited: make(chan error, 1)}
	stderr, err := n.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	readyc := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			n.mu.Lock()
			n.log.WriteString(line + "\n")
			if m := addrRE.FindStringSubmatch(line); m != nil {
				if m[1] == "listening" {
					n.addr = m[2]
				} else {
					n.metricsAddr = m[2]
				}
				if n.addr != "" && n.metricsAddr != "" {
					close(readyc)
				}
			}
			n.mu.Unlock()
		}
		n.exited <- n.cmd.Wait()
	}()
	t.Cleanup(func() {
		if n.cmd.ProcessState == nil {
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
	})
	return n, readyc
}

func (n *node) logs() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.log.String()
}

// scrape returns the value of one metric line (name with labels), or -1.
func scrape(t *testing.T, n *node, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + n.metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, series+" ") {
			v, err := strconv.ParseFloat(strings.TrimPrefix(line, series+" "), 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	return -1
}

func waitMetric(t *testing.T, n *node, series string, want float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := scrape(t, n, series)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", series, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMetricsFollowConnections(t *testing.T) {
	n := startNode(t, "--chat-rate", "1", "--chat-burst", "2")
	defer http.DefaultClient.CloseIdleConnections()
	waitMetric(t, n, "wsnode_connections_open", 0)
	var cs []*websocket.Conn
	for i := 0; i < 3; i++ {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+n.addr+"/chat", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cs = append(cs, c)
	}
	waitMetric(t, n, "wsnode_connections_open", 3)
	waitMetric(t, n, "wsnode_connections_total", 3)
	waitMetric(t, n, "wsnode_chat_users", 3)
	_ = cs[0].WriteMessage(websocket.TextMessage, []byte("hi"))
	waitMetric(t, n, "wsnode_broadcast_deliveries_total", 3)
	waitMetric(t, n, "wsnode_frames_in_total", 1)
	if got := scrape(t, n, "wsnode_frames_out_total"); got < 6 { // 3 greetings + 3 deliveries
		t.Fatalf("frames out %v", got)
	}
	_ = cs[1].WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
	cs[2].UnderlyingConn().Close()
	waitMetric(t, n, "wsnode_connections_open", 1)
	waitMetric(t, n, `wsnode_closes_total{code="1000"}`, 1)
	waitMetric(t, n, `wsnode_closes_total{code="1006"}`, 1)
	if resp, err := http.Get("http://" + n.addr + "/nope"); err == nil {
		resp.Body.Close()
	}
	waitMetric(t, n, `wsnode_handshake_failures_total{reason="not_found"}`, 1)
	// Flooding past --chat-rate (set to 1/s with a burst of 2 by this test's node).
	for i := 0; i < 5; i++ {
		_ = cs[0].WriteMessage(websocket.TextMessage, []byte("flood"))
	}
	// At least 3 of the 5 exceed a burst of 2 (one more if no token was
	// refilled since "hi"); never more than were sent.
	deadline := time.Now().Add(5 * time.Second)
	for v := scrape(t, n, "wsnode_rate_limited_total"); v < 3; v = scrape(t, n, "wsnode_rate_limited_total") {
		if time.Now().After(deadline) {
			t.Fatalf("wsnode_rate_limited_total = %v, want >= 3", v)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v := scrape(t, n, "wsnode_rate_limited_total"); v > 5 {
		t.Fatalf("wsnode_rate_limited_total = %v, more than the 5 sent", v)
	}
	if scrape(t, n, `wsnode_event_loop_lag_seconds{loop="0"}`) < 0 {
		t.Fatal("no event-loop lag series")
	}
	if scrape(t, n, "go_goroutines") < 0 {
		t.Fatal("no Go runtime metrics")
	}
	if resp, err := http.Get("http://" + n.metricsAddr + "/debug/pprof/"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("pprof served without --pprof: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
}

// SIGTERM: close 1001 to everyone, /healthz 503 while draining, exit 0.
func TestSIGTERMDrainsAndExitsZero(t *testing.T) {
	n := startNode(t, "--drain-timeout", "5s", "--close-timeout", "1s")
	defer http.DefaultClient.CloseIdleConnections()
	get := func(url string) int {
		resp, err := http.Get(url)
		if err != nil {
			return -1
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("http://" + n.addr + "/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	good, _, err := websocket.DefaultDialer.Dial("ws://"+n.addr+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	// A peer that never answers the close frame keeps the drain open for
	// the close timeout, long enough to see /healthz say 503.
	mute, err := net.Dial("tcp", n.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	fmt.Fprintf(mute, "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	waitMetric(t, n, "wsnode_connections_open", 2)

	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = good.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = good.ReadMessage()
	var ce *websocket.CloseError
	if !errorsAs(err, &ce) || ce.Code != int(codec.StatusGoingAway) {
		t.Fatalf("client got %v, want close 1001", err)
	}
	if code := get("http://" + n.metricsAddr + "/healthz"); code != 503 {
		t.Fatalf("healthz while draining: %d, want 503", code)
	}
	select {
	case err := <-n.exited:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, n.logs())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("node did not exit")
	}
	if !strings.Contains(n.logs(), "drained") {
		t.Fatalf("log lacks the drain:\n%s", n.logs())
	}
}

// With --log-level debug --log-format json, connection lifecycle and the
// reason of every refusal are logged as JSON; nothing per message at info.
func TestLogsDebugJSON(t *testing.T) {
	n := startNode(t, "--log-level", "debug", "--log-format", "json", "--max-conns", "1", "--pprof")
	resp, err := http.Get("http://" + n.metricsAddr + "/debug/pprof/cmdline")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("--pprof: %v %v", err, resp)
	}
	resp.Body.Close()
	c, _, err := websocket.DefaultDialer.Dial("ws://"+n.addr+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.WriteMessage(websocket.TextMessage, []byte("per-message text must not be logged"))
	_, _, _ = c.ReadMessage()
	if _, resp, err := websocket.DefaultDialer.Dial("ws://"+n.addr+"/echo", nil); err == nil || resp == nil || resp.StatusCode != 503 {
		t.Fatalf("second connection: %v, want 503", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(n.logs(), `"reason":"max_conns"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal reason in the log:\n%s", n.logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, line := range strings.Split(strings.TrimSpace(n.logs()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
	}
	if !strings.Contains(n.logs(), `"msg":"open"`) {
		t.Fatalf("no open event:\n%s", n.logs())
	}
	if strings.Contains(n.logs(), "per-message text") {
		t.Fatal("a message was logged")
	}
}

func TestChatPageServed(t *testing.T) {
	n := startNode(t)
	defer http.DefaultClient.CloseIdleConnections()
	for _, p := range []string{"/", "/chat.js", "/chat.css"} {
		resp, err := http.Get("http://" + n.addr + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(body) == 0 {
			t.Fatalf("GET %s: %d, %d bytes", p, resp.StatusCode, len(body))
		}
	}
}

// At its descriptor limit the node refuses new connections with 503 and
// keeps serving the ones it has; when some close, it accepts again. (gnet's
// own acceptor stops the whole engine on EMFILE; the node accepts itself.)
func TestDescriptorLimitRefusesAndSurvives(t *testing.T) {
	const limit = 200
	n := startCmd(t, exec.Command("bash", "-c",
		fmt.Sprintf("ulimit -n %d && exec %s --addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0 --loops 2", limit, binPath)))
	defer http.DefaultClient.CloseIdleConnections()
	var open []*websocket.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	refused := 0
	for i := 0; i < limit+50; i++ {
		c, resp, err := websocket.DefaultDialer.Dial("ws://"+n.addr+"/echo", nil)
		switch {
		case err == nil:
			open = append(open, c)
		case resp != nil && resp.StatusCode == 503:
			refused++
		default:
			t.Fatalf("connection %d: %v (want an upgrade or a 503)\n%s", i, err, n.logs())
		}
	}
	if refused == 0 || len(open) >= limit {
		t.Fatalf("%d open, %d refused with a limit of %d descriptors", len(open), refused, limit)
	}
	t.Logf("%d open, %d refused with 503", len(open), refused)
	// Every open connection still works.
	for i, c := range open {
		if err := c.WriteMessage(websocket.TextMessage, []byte("alive")); err != nil {
			t.Fatalf("conn %d: %v", i, err)
		}
		if _, p, err := c.ReadMessage(); err != nil || string(p) != "alive" {
			t.Fatalf("conn %d: %q %v", i, p, err)
		}
	}
	if got := scrape(t, n, `wsnode_handshake_failures_total{reason="fd_limit"}`); got != float64(refused) {
		t.Fatalf("fd_limit refusals %v, want %d", got, refused)
	}
	// Closing some frees room for new ones.
	for _, c := range open[:10] {
		c.Close()
	}
	open = open[10:]
	waitMetric(t, n, "wsnode_connections_open", float64(len(open)))
	c, _, err := websocket.DefaultDialer.Dial("ws://"+n.addr+"/echo", nil)
	if err != nil {
		t.Fatalf("after closes: %v", err)
	}
	open = append(open, c)
}

// --history sets how many messages a room keeps: a JSON client entering
// gets the last ones, with offsets; --history 0 turns it off.
func TestHistoryFlag(t *testing.T) {
	for _, tt := range []struct {
		history string
		want    string // the event after the welcome
	}{
		{"3", `{"type":"history","room":"lobby","epoch":E,"messages":[` +
			`{"type":"message","room":"lobby","from":"talker","text":"m3","ts":T,"offset":3,"epoch":E},` +
			`{"type":"message","room":"lobby","from":"talker","text":"m4","ts":T,"offset":4,"epoch":E},` +
			`{"type":"message","room":"lobby","from":"talker","text":"m5","ts":T,"offset":5,"epoch":E}]}`},
		{"0", `{"type":"presence","event":"left","room":"lobby","name":"talker","members":["reader"],"count":1,"seq":T,"ts":T}`},
	} {
		t.Run(tt.history, func(t *testing.T) {
			n := startNode(t, "--history", tt.history, "--chat-rate", "0")
			talker, _, err := websocket.DefaultDialer.Dial("ws://"+n.addr+"/chat?name=talker", nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 5; i++ {
				_ = talker.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "m%d", i))
			}
			for i := 0; i <= 5; i++ { // greeting and own lines: all said
				if _, _, err := talker.ReadMessage(); err != nil {
					t.Fatal(err)
				}
			}
			d := websocket.Dialer{Subprotocols: []string{"chat.v1+json"}}
			reader, _, err := d.Dial("ws://"+n.addr+"/chat?name=reader", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer reader.Close()
			if _, p, err := reader.ReadMessage(); err != nil || !strings.Contains(string(p), `"type":"welcome"`) {
				t.Fatalf("welcome: %s %v", p, err)
			}
			talker.Close() // with history off, the next event is its leaving
			_, p, err := reader.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			got := regexp.MustCompile(`"(ts|seq)":\d+`).ReplaceAllString(string(p), `"$1":T`)
			got = regexp.MustCompile(`"epoch":"[0-9a-f]+-[0-9a-z]+"`).ReplaceAllString(got, `"epoch":E`)
			if got != tt.want {
				t.Fatalf("after the welcome:\n got %s\nwant %s", got, tt.want)
			}
			if tt.history == "3" {
				waitMetric(t, n, "wsnode_history_messages", 3)
				if b := scrape(t, n, "wsnode_history_bytes"); b < 3*64 || b > 3*1024 {
					t.Fatalf("wsnode_history_bytes = %v for 3 short messages", b)
				}
			}
		})
	}
}

// --history-room-max-bytes bounds what one connection keeps in history:
// past it, its messages are delivered without an offset, not kept.
func TestHistoryRoomMaxBytesFlag(t *testing.T) {
	n := startNode(t, "--history-room-max-bytes", "1500", "--chat-rate", "0")
	d := websocket.Dialer{Subprotocols: []string{"chat.v1+json"}}
	c, _, err := d.Dial("ws://"+n.addr+"/chat?name=talker", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for range 2 { // welcome, history
		if _, _, err := c.ReadMessage(); err != nil {
			t.Fatal(err)
		}
	}
	var offsets []bool
	for range 4 {
		_ = c.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("x", 500)))
		_, p, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		offsets = append(offsets, strings.Contains(string(p), `"offset":`))
	}
	if fmt.Sprint(offsets) != "[true true false false]" {
		t.Fatalf("messages with an offset: %v, want the first two (about 600 bytes each against 1,500)", offsets)
	}
	waitMetric(t, n, "wsnode_history_messages", 2)
}
