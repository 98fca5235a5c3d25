package bench_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"edgews/bench"
	"edgews/bench/benchtest"
	"edgews/engine"
	"edgews/hub"
	"github.com/gorilla/websocket"
)

// The bench's own correctness: against the real node, its counts must be
// exactly what the server sent.

func TestEchoCountsMatch(t *testing.T) {
	url := startNode(t)
	rep := run(t, bench.Config{Scenario: bench.Echo, URL: url, Conns: 20, Duration: time.Second, InFlight: 4, Payload: 100})
	c, m := rep.Conns, rep.Messages
	if c.Connected != 20 || c.Failed != 0 || c.OpenAtStart != 20 || c.Disconnects != 0 {
		t.Fatalf("conns = %+v, want 20 connected, none failed or lost", c)
	}
	if m.Sent == 0 || m.Received != m.Sent || m.Expected != m.Sent || m.Lost != 0 || m.Extra != 0 {
		t.Fatalf("messages = %+v, want received == sent > 0", m)
	}
	if rep.Latency == nil || rep.Latency.Count != m.Received {
		t.Fatalf("latency count = %+v, want %d", rep.Latency, m.Received)
	}
	if c.ConnectTime == nil || c.ConnectTime.Count != 20 {
		t.Fatalf("connect time = %+v, want 20 samples", c.ConnectTime)
	}
	if want := m.Received * 100; int64(m.MBPerSec*1e6*m.DurationSec+0.5) != want {
		t.Errorf("MB/s = %v over %v s, want %d bytes", m.MBPerSec, m.DurationSec, want)
	}
	var seriesRecv int64
	for _, s := range rep.Series {
		seriesRecv += s.Received
	}
	if seriesRecv > m.Received {
		t.Errorf("series received %d > total %d", seriesRecv, m.Received)
	}
}

func TestBroadcastNoLoss(t *testing.T) {
	url := startNode(t)
	rep := run(t, bench.Config{Scenario: bench.Broadcast, URL: url, Conns: 20, Senders: 5, Rate: 100, Duration: 1500 * time.Millisecond})
	m := rep.Messages
	if rep.Conns.OpenAtStart != 20 {
		t.Fatalf("open at start = %d, want 20", rep.Conns.OpenAtStart)
	}
	if m.Sent < 50 {
		t.Fatalf("sent %d, want about 150", m.Sent)
	}
	if m.Expected != m.Sent*20 || m.Received != m.Expected || m.Lost != 0 || m.Extra != 0 {
		t.Fatalf("messages = %+v, want expected = received = sent x 20", m)
	}
	if m.Other < 20 { // at least one greeting per user
		t.Errorf("other = %d, want >= 20 greetings", m.Other)
	}
	if rep.Latency.Count != m.Received {
		t.Errorf("latency samples %d, want %d", rep.Latency.Count, m.Received)
	}
}

func TestChatNoLoss(t *testing.T) {
	url := startNode(t)
	rep := run(t, bench.Config{Scenario: bench.Chat, URL: url, Conns: 20, TalkFrac: 0.25, TalkRate: 20, Duration: time.Second})
	m := rep.Messages
	if m.Sent == 0 || m.Expected != m.Sent*20 || m.Received != m.Expected || m.Lost != 0 {
		t.Fatalf("messages = %+v, want expected = received = sent x 20", m)
	}
}

// Whispers reach exactly their target; a copy the server echoes to the
// whisperer is not a delivery.
func TestChatWhispers(t *testing.T) {
	url := startNode(t)
	rep := run(t, bench.Config{Scenario: bench.Chat, URL: url, Conns: 20, TalkFrac: 0.5, TalkRate: 20, WhisperFrac: 0.5, Duration: 1500 * time.Millisecond})
	m, w := rep.Messages, rep.Messages.Whispers
	if w == nil || w.Sent == 0 {
		t.Fatalf("whispers = %+v, want some sent", w)
	}
	if w.Expected != w.Sent || w.Received != w.Expected || m.Lost != 0 || m.Extra != 0 {
		t.Fatalf("messages = %+v, whispers = %+v: want every whisper delivered once", m, w)
	}
	if m.Expected != (m.Sent-w.Sent)*20+w.Sent {
		t.Fatalf("expected %d, want broadcasts x 20 + whispers", m.Expected)
	}
}

// A server that pings: the bench answers, so no connection is lost.
func TestAnswersServerPings(t *testing.T) {
	// Without pongs the server would close every connection after 1 s.
	url := startNodeWith(t, engine.Config{PingPeriod: 100 * time.Millisecond, Timeout: time.Second}, hub.Config{})
	rep := run(t, bench.Config{Scenario: bench.Connect, URL: url, Conns: 10, Duration: 2500 * time.Millisecond, PingPeriod: -1})
	if rep.Conns.OpenAtStart != 10 || rep.Conns.Disconnects != 0 {
		t.Fatalf("conns = %+v, want 10 open throughout", rep.Conns)
	}
}

// Messages a rate-limited server refuses (its error line goes to the sender
// only) are refusals, not loss: expected counts only what it accepted.
func TestBroadcastRateLimitIsRefusalNotLoss(t *testing.T) {
	url := startNodeWith(t, engine.Config{}, hub.Config{Rate: 5, Burst: 1})
	rep := run(t, bench.Config{Scenario: bench.Broadcast, URL: url, Conns: 20, Senders: 2, Rate: 20, Duration: 1500 * time.Millisecond})
	m := rep.Messages
	if m.Refused == 0 || m.Refused >= m.Sent {
		t.Fatalf("refused %d of %d, want some but not all (10/s against a 5/s limit)", m.Refused, m.Sent)
	}
	if m.Expected != (m.Sent-m.Refused)*20 || m.Received != m.Expected || m.Lost != 0 || m.Extra != 0 || rep.Conns.Disconnects != 0 {
		t.Fatalf("messages = %+v, conns = %+v: want accepted x 20 received, no loss", m, rep.Conns)
	}
}

// A server that loses one delivery must show as a loss of exactly one.
func TestBroadcastCatchesOneDrop(t *testing.T) {
	srv := newDropChat(t, 3) // drop the 3rd broadcast to the first user
	rep := run(t, bench.Config{Scenario: bench.Broadcast, URL: srv.url, Conns: 20, Senders: 5, Rate: 100, Duration: time.Second})
	m := rep.Messages
	if srv.dropped.Load() != 1 {
		t.Fatalf("server dropped %d, want 1", srv.dropped.Load())
	}
	if m.Lost != 1 || m.Expected != m.Sent*20 || m.Received != m.Expected-1 || m.Extra != 0 {
		t.Fatalf("messages = %+v, want exactly 1 lost of sent x 20", m)
	}
}

func TestProcs2MergesCounts(t *testing.T) {
	url := startNode(t)
	rep := run(t, bench.Config{Scenario: bench.Echo, URL: url, Conns: 20, Procs: 2, Duration: time.Second, InFlight: 2})
	if rep.Procs != 2 || len(rep.Workers) != 2 {
		t.Fatalf("procs = %d, workers = %+v", rep.Procs, rep.Workers)
	}
	var conns int
	var sent, recv int64
	for _, w := range rep.Workers {
		if w.Users != 10 || w.Connected != 10 || w.Sent == 0 {
			t.Errorf("worker %+v, want 10 users connected and sending", w)
		}
		conns += w.Connected
		sent += w.Sent
		recv += w.Received
	}
	m := rep.Messages
	if rep.Conns.Connected != conns || m.Sent != sent || m.Received != recv {
		t.Fatalf("merged conns %d sent %d received %d, want the workers' sums %d %d %d",
			rep.Conns.Connected, m.Sent, m.Received, conns, sent, recv)
	}
	if m.Received != m.Sent || rep.Latency.Count != m.Received {
		t.Fatalf("messages = %+v, latency n = %d", m, rep.Latency.Count)
	}
}

func TestProcs2Broadcast(t *testing.T) {
	url := startNode(t)
	rep := run(t, bench.Config{Scenario: bench.Broadcast, URL: url, Conns: 20, Procs: 2, Senders: 4, Rate: 80, Duration: time.Second})
	m := rep.Messages
	// Senders in one process, receivers in both: the accounting crosses
	// processes.
	if m.Sent == 0 || m.Expected != m.Sent*20 || m.Received != m.Expected {
		t.Fatalf("messages = %+v, want expected = received = sent x 20", m)
	}
}

// Refusals must fail promptly, with a message that names the cause.

func TestRefusedClosedPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := time.Now()
	rep, err := runErr(t, bench.Config{Scenario: bench.Echo, URL: "ws://" + addr, Conns: 20, Duration: time.Second})
	if !errors.Is(err, bench.ErrRefused) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v, want ErrRefused naming connection refused", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to fail", d)
	}
	if rep == nil || rep.Error == "" || rep.Conns.Failed == 0 {
		t.Errorf("report = %+v, want the error and the failures", rep)
	}
}

func TestRefusedHTTP503(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	t.Cleanup(hs.Close)
	start := time.Now()
	rep, err := runErr(t, bench.Config{Scenario: bench.Connect, URL: "ws://" + hs.Listener.Addr().String(), Conns: 50, Duration: time.Second})
	if !errors.Is(err, bench.ErrRefused) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v, want ErrRefused naming 503", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to fail", d)
	}
	if rep.Conns.Failures["http_503"] == 0 {
		t.Errorf("failures = %v, want http_503", rep.Conns.Failures)
	}
}

// A server that accepts TCP but never answers the upgrade: the handshake
// timeout fires, and says so.
func TestHandshakeTimeout(t *testing.T) {
	addr, _ := benchtest.Serve(t, func(net.Conn) bool { return true }) // accepts, never answers
	start := time.Now()
	_, err := runErr(t, bench.Config{Scenario: bench.Echo, URL: "ws://" + addr, Conns: 5, HandshakeTimeout: 300 * time.Millisecond})
	if !errors.Is(err, bench.ErrTimeout) || !strings.Contains(err.Error(), "no upgrade response") {
		t.Fatalf("err = %v, want ErrTimeout naming the missing upgrade response", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to fail", d)
	}
}

func TestFileLimitAdvice(t *testing.T) {
	// More connections than one process may hold: refused before dialing,
	// with the limit and the --procs advice.
	rep, err := runErr(t, bench.Config{Scenario: bench.Connect, URL: "ws://127.0.0.1:9", Conns: 10_000_000, Duration: time.Second})
	if !errors.Is(err, bench.ErrFileLimit) || !strings.Contains(err.Error(), "--procs") || !strings.Contains(err.Error(), "RLIMIT_NOFILE") {
		t.Fatalf("err = %v, want ErrFileLimit with RLIMIT_NOFILE and --procs advice", err)
	}
	if rep == nil || rep.Conns.Connected != 0 {
		t.Errorf("report = %+v", rep)
	}
}

func TestConnectScenario(t *testing.T) {
	url := startNode(t)
	rep := run(t, bench.Config{Scenario: bench.Connect, URL: url, Conns: 30, Duration: 200 * time.Millisecond, ServerPIDs: []int{selfPID()}})
	if rep.Conns.Connected != 30 || rep.Conns.OpenAtStart != 30 || rep.Messages != nil {
		t.Fatalf("report = %+v", rep.Conns)
	}
	if len(rep.Servers) != 1 || rep.Servers[0].Error != "" || rep.Servers[0].RSSAfterBytes == 0 {
		t.Fatalf("servers = %+v, want this process measured", rep.Servers)
	}
}

// Past PerSource connections per source address, users dial from
// 127.0.0.2, 127.0.0.3, ...
func TestSpreadsSourceAddresses(t *testing.T) {
	srv := newDropChat(t, 0)
	rep := run(t, bench.Config{Scenario: bench.Connect, URL: srv.url + "/chat", Conns: 12, PerSource: 5, Duration: 100 * time.Millisecond})
	if rep.Conns.Connected != 12 {
		t.Fatalf("conns = %+v", rep.Conns)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	want := map[string]int{"127.0.0.2": 5, "127.0.0.3": 5, "127.0.0.4": 2}
	if len(srv.remotes) != len(want) {
		t.Fatalf("remote addresses = %v, want %v", srv.remotes, want)
	}
	for ip, n := range want {
		if srv.remotes[ip] != n {
			t.Fatalf("remote addresses = %v, want %v", srv.remotes, want)
		}
	}
}

// greetingChat is a /chat server that upgrades at once and greets after
// delay (never, if negative): what a clustered node does while the
// cluster checks the user's name.
func greetingChat(t *testing.T, delay time.Duration) string {
	t.Helper()
	up := websocket.Upgrader{}
	// The handlers are counted so that the cleanup waits for them (the
	// server does not track hijacked connections); one that starts once
	// the cleanup has begun is not (an Add racing Wait).
	var wg sync.WaitGroup
	var mu sync.Mutex
	closed := false
	stop := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if closed {
			mu.Unlock()
			return
		}
		wg.Add(1)
		mu.Unlock()
		defer wg.Done()
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		if delay >= 0 {
			select {
			case <-time.After(delay):
				_ = ws.WriteMessage(websocket.TextMessage, []byte("You are connected! There are 1 users here."))
			case <-stop:
				return
			}
		}
		for { // until the client goes
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(func() {
		mu.Lock()
		closed = true
		mu.Unlock()
		close(stop)
		hs.CloseClientConnections()
		hs.Close()
		wg.Wait()
	})
	return "ws://" + hs.Listener.Addr().String() + "/chat"
}

// A /chat user counts as connected at its greeting, not at the upgrade:
// its connect time includes the wait, and a greeting that never comes is
// a timeout, like a missing upgrade response.
func TestChatUserReadyAtGreeting(t *testing.T) {
	const delay = 300 * time.Millisecond
	rep := run(t, bench.Config{Scenario: bench.Connect, URL: greetingChat(t, delay), Conns: 4, Duration: 100 * time.Millisecond})
	if rep.Conns.Connected != 4 || rep.Conns.ConnectTime == nil {
		t.Fatalf("conns = %+v", rep.Conns)
	}
	if min := time.Duration(rep.Conns.ConnectTime.MinUs * float64(time.Microsecond)); min < delay {
		t.Fatalf("fastest connect %v, want at least the greeting's delay %v", min, delay)
	}
	_, err := runErr(t, bench.Config{Scenario: bench.Connect, URL: greetingChat(t, -1), Conns: 3, HandshakeTimeout: 300 * time.Millisecond})
	if !errors.Is(err, bench.ErrTimeout) || !strings.Contains(err.Error(), "no greeting") {
		t.Fatalf("err = %v, want ErrTimeout naming the missing greeting", err)
	}
}

// Tracking every message costs 8 bytes per user and sender: a run that
// would need more than MaxTrackBytes in one process is refused before a
// dial, saying why.
func TestTrackingBoundRefused(t *testing.T) {
	_, err := runErr(t, bench.Config{Scenario: bench.Chat, URL: "ws://127.0.0.1:9", Conns: 19000, TalkFrac: 1, Duration: time.Second})
	if err == nil || !strings.Contains(err.Error(), "tracking every message takes") || !strings.Contains(err.Error(), "--procs") {
		t.Fatalf("err = %v, want the tracking bound named", err)
	}
}
