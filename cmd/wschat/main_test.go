package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"edgews/codec"
	"edgews/engine"
	"edgews/engine/enginetest"
	"edgews/hub"
	"github.com/gorilla/websocket"
)

func TestChatURL(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		user    string
		want    string
		wantErr bool
	}{
		{"default", DefaultURL, "", "ws://127.0.0.1:8080/chat", false},
		{"name added", "ws://h:1/chat", "alice", "ws://h:1/chat?name=alice", false},
		{"name escaped", "ws://h/chat", "a b&c", "ws://h/chat?name=a+b%26c", false},
		{"query kept", "wss://h/chat?x=1", "bob", "wss://h/chat?name=bob&x=1", false},
		{"http refused", "http://h/chat", "", "", true},
		{"no host", "ws:///chat", "", "", true},
		{"garbage", "::", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := chatURL(tt.raw, tt.user)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("chatURL(%q, %q) = %q, %v; want %q (error %v)", tt.raw, tt.user, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
	buildDir  string
)

// build compiles wschat once per test run.
func build(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "wschat-test")
		if buildErr != nil {
			return
		}
		binary = filepath.Join(buildDir, "wschat")
		out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	return binary
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// observer wraps the chat handler to report how connections closed.
type observer struct {
	engine.Handler
	closes chan string // "name code"
}

func (o *observer) OnClose(c *engine.Conn, code codec.StatusCode, reason string) {
	o.closes <- c.Request().Query("name") + " " + strconv.Itoa(int(code))
	o.Handler.OnClose(c, code, reason)
}

// node is an in-process chat node on 127.0.0.1:0.
type node struct {
	srv    *engine.Server
	closes chan string
	errc   chan error
}

func startNode(t *testing.T) *node {
	t.Helper()
	srv := engine.New(engine.Config{Addr: "127.0.0.1:0", Loops: 2})
	h := hub.New(srv, hub.Config{})
	n := &node{srv: srv, closes: make(chan string, 16), errc: make(chan error, 1)}
	srv.Handle("/chat", &observer{Handler: h.Chat(), closes: n.closes})
	go func() { n.errc <- srv.Run() }()
	select {
	case <-srv.Ready():
	case err := <-n.errc:
		t.Fatal(err)
	}
	t.Cleanup(func() { n.stop(t) })
	return n
}

func (n *node) url() string { return "ws://" + n.srv.Addr().String() + "/chat" }

// stop shuts the node down (once).
func (n *node) stop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.srv.Shutdown(ctx); err != nil && !errors.Is(err, engine.ErrNotRunning) {
		t.Errorf("Shutdown: %v", err)
	}
	select {
	case err := <-n.errc:
		if !errors.Is(err, engine.ErrServerClosed) {
			t.Errorf("Run: %v", err)
		}
	default: // stopped before
	}
}

// proc is a running wschat.
type proc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // stdout
	stderr *enginetest.SyncBuffer
	waited chan error
}

func startClient(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(build(t), args...)
	p := &proc{cmd: cmd, lines: make(chan string, 64), stderr: new(enginetest.SyncBuffer), waited: make(chan error, 1)}
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	scanDone := make(chan struct{})
	go func() {
		defer close(scanDone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	go func() { <-scanDone; p.waited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-scanDone
	})
	return p
}

func (p *proc) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-p.lines:
		if got != want {
			t.Fatalf("stdout %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %q on stdout; stderr %q", want, p.stderr.String())
	}
}

func (p *proc) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

// exitCode waits for the process to end.
func (p *proc) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case err := <-p.waited:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(5 * time.Second):
		t.Fatal("wschat did not exit")
		return -1
	}
}

func (n *node) expectClose(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-n.closes:
		if got != want {
			t.Fatalf("server saw close %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("server saw no close, want %q", want)
	}
}

// peer is another chat user, on a gorilla client.
func dialPeer(t *testing.T, n *node, name string) (*websocket.Conn, chan string) {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(n.url()+"?name="+name, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := make(chan string, 64)
	go func() {
		defer close(in)
		for {
			_, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			in <- string(p)
		}
	}()
	t.Cleanup(func() { c.Close() })
	return c, in
}

func expectPeer(t *testing.T, in chan string, want string) {
	t.Helper()
	select {
	case got := <-in:
		if got != want {
			t.Fatalf("peer got %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("peer timed out waiting for %q", want)
	}
}

// A session through pipes: greeting, lines both ways, then SIGINT closes
// with 1000 and exits 0.
func TestSessionThenInterrupt(t *testing.T) {
	n := startNode(t)
	peer, peerIn := dialPeer(t, n, "peer")
	expectPeer(t, peerIn, "You are connected! There are 1 users here.")

	p := startClient(t, "-name", "term", n.url())
	p.expect(t, "You are connected! There are 2 users here.")
	p.send(t, "hello from the terminal")
	expectPeer(t, peerIn, "[term]: hello from the terminal")
	p.expect(t, "[term]: hello from the terminal")
	if err := peer.WriteMessage(websocket.TextMessage, []byte("hi term")); err != nil {
		t.Fatal(err)
	}
	p.expect(t, "[peer]: hi term")
	expectPeer(t, peerIn, "[peer]: hi term")
	p.send(t, "/w peer psst")
	expectPeer(t, peerIn, "[term -> peer]: psst")
	p.expect(t, "[term -> peer]: psst")

	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	n.expectClose(t, "term 1000")
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit code %d after SIGINT, want 0; stderr %q", code, p.stderr.String())
	}
	if s := p.stderr.String(); s != "" {
		t.Fatalf("stderr %q", s)
	}
}

// The end of stdin closes with 1000 and exits 0, after printing the
// answers to the last lines; a last line without a newline is still sent.
func TestEOFClosesCleanly(t *testing.T) {
	n := startNode(t)
	_, peerIn := dialPeer(t, n, "peer")
	expectPeer(t, peerIn, "You are connected! There are 1 users here.")
	p := startClient(t, "-url", n.url()+"?name=term", "-linger", "200ms")
	p.expect(t, "You are connected! There are 2 users here.")
	if _, err := io.WriteString(p.stdin, "/users\r\n\nlast words"); err != nil {
		t.Fatal(err)
	}
	p.stdin.Close()
	p.expect(t, "*** 2 in lobby: peer, term")
	p.expect(t, "[term]: last words")
	expectPeer(t, peerIn, "[term]: last words")
	n.expectClose(t, "term 1000")
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit code %d after EOF, want 0; stderr %q", code, p.stderr.String())
	}
}

// The server going away is a lost connection: reported, exit 1.
func TestServerShutdown(t *testing.T) {
	n := startNode(t)
	p := startClient(t, n.url())
	p.expect(t, "You are connected! There are 1 users here.")
	n.stop(t)
	if code := p.exitCode(t); code != 1 {
		t.Fatalf("exit code %d after shutdown, want 1", code)
	}
	if s := p.stderr.String(); !strings.Contains(s, "wschat: connection lost") {
		t.Fatalf("stderr %q, want a connection lost report", s)
	}
}

// Closed by the server for a policy violation: reported with the code.
func TestClosedByServer(t *testing.T) {
	srv := engine.New(engine.Config{Addr: "127.0.0.1:0", Loops: 1, MaxMessageSize: 64})
	hub.New(srv, hub.Config{})
	n := &node{srv: srv, closes: make(chan string, 16), errc: make(chan error, 1)}
	go func() { n.errc <- srv.Run() }()
	<-srv.Ready()
	t.Cleanup(func() { n.stop(t) })
	p := startClient(t, n.url())
	p.expect(t, "You are connected! There are 1 users here.")
	p.send(t, strings.Repeat("x", 100))
	if code := p.exitCode(t); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if s := p.stderr.String(); !strings.Contains(s, "wschat: connection lost: the server closed it (1009") {
		t.Fatalf("stderr %q", s)
	}
}

func TestCannotConnect(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"refused", []string{"ws://127.0.0.1:1/chat"}, 1, "wschat: connect to ws://127.0.0.1:1/chat:"},
		{"bad URL", []string{"http://127.0.0.1/chat"}, 2, "wschat: bad URL"},
		{"two URLs", []string{"ws://a/chat", "ws://b/chat"}, 2, "usage: wschat"},
		{"bad flag", []string{"-nope"}, 2, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startClient(t, tt.args...)
			if code := p.exitCode(t); code != tt.code {
				t.Fatalf("exit code %d, want %d", code, tt.code)
			}
			if s := p.stderr.String(); !strings.Contains(s, tt.stderr) {
				t.Fatalf("stderr %q, want %q", s, tt.stderr)
			}
		})
	}
}
