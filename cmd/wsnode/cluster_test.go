package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"edgews/engine/enginetest"
	"edgews/hub/cluster/clustertest"
	"github.com/gorilla/websocket"
)

// chatClient dials a node's /chat and reads its greeting.
func chatClient(t *testing.T, n *node, query string) (*websocket.Conn, string) {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial("ws://"+n.addr+"/chat"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, readLine(t, c)
}

func readLine(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, p, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	return string(p)
}

func healthz(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return -1, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// The built node with --nats: NATS unreachable at start (local chat
// served, /healthz on --metrics-addr 503 "cluster unavailable" until it
// connects), then chat across two nodes; a node killed with -9 in a
// broadcast storm (the other keeps delivering, its names free within
// --cluster-ttl); a node drained with SIGTERM (its users leave the counts
// at once).
func TestClusterNodes(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	ns := clustertest.UnstartedNATS(t)
	const ttl = 2 * time.Second
	flags := []string{"--nats", ns.URL(), "--cluster-ttl", ttl.String(), "--chat-rate", "0"}
	a := startNode(t, append(flags, "--node-id", "a")...)

	if code, body := healthz("http://" + a.metricsAddr + "/healthz"); code != 503 || body != "cluster unavailable" {
		t.Fatalf("metrics /healthz without NATS: %d %q, want 503 cluster unavailable", code, body)
	}
	if code, _ := healthz("http://" + a.addr + "/healthz"); code != 200 {
		t.Fatalf("node /healthz without NATS: %d, want 200 (the port keeps answering)", code)
	}
	ann, greeting := chatClient(t, a, "?name=ann")
	if greeting != "You are connected! There are 1 users here." {
		t.Fatalf("greeting without NATS: %q", greeting)
	}
	_ = ann.WriteMessage(websocket.TextMessage, []byte("alone"))
	if got := readLine(t, ann); got != "[ann]: alone" {
		t.Fatalf("local chat without NATS: %q", got)
	}

	ns.Start(t)
	enginetest.CheckFor(t, 10*time.Second, func() bool { code, _ := healthz("http://" + a.metricsAddr + "/healthz"); return code == 200 }, "a's /healthz 200 once NATS is up")
	if v := scrape(t, a, "wsnode_cluster_nats_connected"); v != 1 {
		t.Fatalf("wsnode_cluster_nats_connected = %v", v)
	}

	b := startNode(t, append(flags, "--node-id", "b")...)
	enginetest.CheckFor(t, 10*time.Second, func() bool { code, _ := healthz("http://" + b.metricsAddr + "/healthz"); return code == 200 }, "b's /healthz 200")
	bob, greeting := chatClient(t, b, "?name=bob")
	if greeting != "You are connected! There are 2 users here." {
		t.Fatalf("greeting on b: %q (ann, claimed while NATS was down, must be counted)", greeting)
	}
	_, greeting = chatClient(t, b, "?name=ANN")
	if !strings.HasPrefix(greeting, "You are connected!") {
		t.Fatal(greeting)
	}
	// ann's name, granted while NATS was down, was claimed again once it
	// came back: b refuses it (the refusal follows the greeting).
	bobs := []*websocket.Conn{bob}
	for i := 0; i < 3; i++ {
		c, _ := chatClient(t, b, fmt.Sprintf("?name=b%d", i))
		bobs = append(bobs, c)
	}
	waitMetric(t, a, "wsnode_cluster_remote_users", 5)

	// A broadcast storm from both nodes; b dies with -9 in the middle.
	const msgs = 300
	var wg sync.WaitGroup
	var killed time.Time // written before wg.Done
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < msgs; i++ {
			if ann.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf("s%d", i))) != nil {
				return
			}
			if i == msgs/3 {
				killed = time.Now()
				_ = b.cmd.Process.Signal(syscall.SIGKILL)
			}
			for _, c := range bobs {
				_ = c.WriteMessage(websocket.TextMessage, []byte("storm"))
			}
		}
	}()
	got := 0
	for got < msgs {
		line := readLine(t, ann)
		if strings.HasPrefix(line, "[ann]: s") {
			if line != fmt.Sprintf("[ann]: s%d", got) {
				t.Fatalf("a delivered %q, want s%d", line, got)
			}
			got++
		}
	}
	wg.Wait()
	<-b.exited
	// Its names free within the TTL.
	enginetest.CheckFor(t, ttl-time.Since(killed), func() bool { return scrape(t, a, "wsnode_cluster_remote_users") == 0 }, "b's users gone from a's counts")
	t.Logf("b's users gone %v after kill -9 (TTL %v)", time.Since(killed), ttl)
	newBob, _ := chatClient(t, a, "")
	_ = newBob.WriteMessage(websocket.TextMessage, []byte("/nick bob"))
	for {
		line := readLine(t, newBob)
		if strings.Contains(line, "is now known as bob") {
			break
		}
		if strings.HasPrefix(line, "error:") {
			t.Fatalf("bob not free after b died: %q", line)
		}
	}

	// SIGTERM: c's users leave a's counts at once, not after the TTL.
	c := startNode(t, append(flags, "--node-id", "c", "--drain-timeout", "2s")...)
	enginetest.CheckFor(t, 10*time.Second, func() bool { code, _ := healthz("http://" + c.metricsAddr + "/healthz"); return code == 200 }, "c's /healthz 200")
	cee, _ := chatClient(t, c, "?name=cee")
	go func() { // answers the drain's close frame
		for _, _, err := cee.NextReader(); err == nil; _, _, err = cee.NextReader() {
		}
	}()
	waitMetric(t, a, "wsnode_cluster_remote_users", 1)
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	drained := time.Now()
	waitMetric(t, a, "wsnode_cluster_remote_users", 0)
	if d := time.Since(drained); d >= ttl {
		t.Fatalf("drained node's users left the counts after %v, not before the TTL", d)
	}
	if err := <-c.exited; err != nil {
		t.Fatalf("c exit: %v\n%s", err, c.logs())
	}
}

// --nats-embed: a node runs NATS itself; another joins it with --nats.
func TestClusterEmbedded(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	addr := freeAddr(t)
	e := startNode(t, "--nats-embed", addr, "--nats-store", t.TempDir(), "--node-id", "e")
	o := startNode(t, "--nats", "nats://"+addr, "--node-id", "o")
	for _, n := range []*node{e, o} {
		enginetest.CheckFor(t, 10*time.Second, func() bool { code, _ := healthz("http://" + n.metricsAddr + "/healthz"); return code == 200 }, "healthz 200")
	}
	x, _ := chatClient(t, e, "?name=x")
	y, greeting := chatClient(t, o, "?name=y")
	if greeting != "You are connected! There are 2 users here." {
		t.Fatal(greeting)
	}
	enginetest.CheckFor(t, 5*time.Second, func() bool { return scrape(t, e, "wsnode_cluster_remote_users") == 1 }, "e sees y")
	// Subscriptions are set up in the background: repeat until one crosses.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_ = y.WriteMessage(websocket.TextMessage, []byte("hi x"))
		_ = x.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, p, err := x.ReadMessage(); err == nil && string(p) == "[y]: hi x" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no message crossed from o to e")
		}
	}
}

// freeAddr is a loopback address nothing listens on, for the embedded
// nats-server (whose port 0 means 4222).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// --nats-store: by default a directory of the user's state, so that a
// normal user's embedding node starts (it once defaulted to nothing, and
// the README's /var/lib path left a newcomer with "not ready in 10s");
// one that cannot be created is an error naming the flag, at once.
func TestNatsStore(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	for _, tt := range []struct {
		name, xdg, home, want string
	}{
		{"XDG_STATE_HOME", "/state", "/home/u", "/state/wsnode/nats-4222"},
		{"HOME", "", "/home/u", "/home/u/.local/state/wsnode/nats-4222"},
		{"relative XDG_STATE_HOME is ignored", "state", "/home/u", "/home/u/.local/state/wsnode/nats-4222"},
	} {
		env["XDG_STATE_HOME"], env["HOME"] = tt.xdg, tt.home
		if got := defaultNatsStore("127.0.0.1:4222", getenv); got != tt.want {
			t.Errorf("%s: store %s, want %s", tt.name, got, tt.want)
		}
	}

	home := t.TempDir()
	addr := freeAddr(t)
	n := startNodeEnv(t, nodeEnv("HOME="+home, "XDG_STATE_HOME="), "--nats-embed", addr)
	_, port, _ := net.SplitHostPort(addr)
	if _, err := os.Stat(filepath.Join(home, ".local/state/wsnode/nats-"+port, "jetstream")); err != nil {
		t.Fatalf("JetStream's store is not in the default place: %v\n%s", err, n.logs())
	}

	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binPath, "--addr", "127.0.0.1:0", "--nats-embed", freeAddr(t), "--nats-store", filepath.Join(file, "nats"))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errorsAs(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "--nats-store "+filepath.Join(file, "nats")+": mkdir") {
		t.Fatalf("store under a file: %v, want exit 2 and an error naming --nats-store:\n%s", err, out)
	}
}

// --history-shared: the history is the cluster's. A message said on one
// node has the same offset and epoch in the other's history, a client
// resumes on the other node, and a node started afterwards (as after a
// restart) has the history from the stream.
func TestHistorySharedNodes(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	ns := clustertest.StartNATS(t)
	flags := []string{"--nats", ns.URL(), "--history-shared", "--chat-rate", "0"}
	a := startNode(t, append(flags, "--node-id", "a")...)
	b := startNode(t, append(flags, "--node-id", "b")...)
	for _, n := range []*node{a, b} {
		enginetest.CheckFor(t, 10*time.Second, func() bool { code, _ := healthz("http://" + n.metricsAddr + "/healthz"); return code == 200 }, "healthz 200")
	}
	talker, _ := chatClient(t, a, "?name=talker")
	for _, s := range []string{"one", "two"} {
		_ = talker.WriteMessage(websocket.TextMessage, []byte(s))
		if got := readLine(t, talker); got != "[talker]: "+s { // back from the stream
			t.Fatalf("talker got %q", got)
		}
	}
	waitMetric(t, b, "wsnode_history_messages", 2)
	waitMetric(t, a, "wsnode_history_shared_stored_total", 2)
	waitMetric(t, b, "wsnode_history_shared_stored_total", 0)

	type msg struct {
		Offset uint64
		Epoch  string
		Text   string
	}
	type history struct {
		Type     string
		Epoch    string
		Reset    bool
		Messages []msg
	}
	historyOn := func(n *node, query string) history {
		t.Helper()
		d := websocket.Dialer{Subprotocols: []string{"chat.v1+json"}}
		c, _, err := d.Dial("ws://"+n.addr+"/chat"+query, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		for {
			var h history
			if err := json.Unmarshal([]byte(readLine(t, c)), &h); err != nil {
				t.Fatal(err)
			}
			if h.Type == "history" {
				return h
			}
		}
	}
	hb := historyOn(b, "")
	if hb.Reset || len(hb.Messages) != 2 || hb.Messages[0].Offset != 1 || hb.Messages[1].Text != "two" || hb.Epoch == "" || hb.Messages[1].Epoch != hb.Epoch {
		t.Fatalf("history on b: %+v", hb)
	}
	ha := historyOn(a, "?since=1&epoch="+hb.Epoch)
	if ha.Reset || len(ha.Messages) != 1 || ha.Messages[0].Offset != 2 || ha.Epoch != hb.Epoch {
		t.Fatalf("resumed on a: %+v", ha)
	}
	c := startNode(t, append(flags, "--node-id", "c")...)
	waitMetric(t, c, "wsnode_history_messages", 2)
	if hc := historyOn(c, "?since=1&epoch="+hb.Epoch); hc.Reset || len(hc.Messages) != 1 || hc.Messages[0].Text != "two" {
		t.Fatalf("resumed on a node started later: %+v", hc)
	}
}
