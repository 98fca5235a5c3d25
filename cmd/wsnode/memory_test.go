package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"edgews/codec"
	"github.com/gorilla/websocket"
)

// The memory budget against the two attacks of issue 15, at test scale, on
// the built node: RSS stays within the budget plus an allowance, healthy
// clients are served throughout, the evicted connections get 1013 (or a
// TCP close when their output is backed up), the metrics count them, and
// the memory goes back to the OS.

const (
	testBudget = 32 << 20
	// rssAllowance is what the node may grow beyond the budget under
	// attack: the garbage collector's headroom over the live heap
	// (GOGC=100), buffers in gnet's pools between GCs, and gnet's 64 KiB
	// read buffer per loop.
	rssAllowance = 64 << 20
	// rssReturned is how close to its baseline RSS the node must come
	// back within 10 s once the attack is evicted (the bound).
	rssReturned = 64 << 20
)

// procKB reads a "Vm...:  N kB" line of /proc/pid/status, in bytes.
func procKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// rawWS is a WebSocket client on a bare socket, to misbehave as attackers do.
type rawWS struct {
	net.Conn
	br  *bufio.Reader
	dec codec.Decoder
	buf []byte
}

// dialRawWS upgrades a TCP connection to path. A positive rcvbuf sets
// SO_RCVBUF and a 1460-byte MSS before connecting, so that a peer that does
// not read stops the server's writes early: the server's kernel sizes its
// send buffer from the peer's MSS, and loopback's 64 KiB MSS would let it
// soak up megabytes per connection before the node holds anything (as
// wsbench's hogs do, bench/hog.go).
func dialRawWS(t *testing.T, addr, path string, rcvbuf int) *rawWS {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = errors.Join(syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf),
					syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 1460))
			})
			return errors.Join(err, serr)
		}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path)
	rc := &rawWS{Conn: c, br: bufio.NewReader(c)}
	rc.dec.Role = codec.RoleClient
	rc.dec.MaxFrameSize, rc.dec.MaxMessageSize = 1<<30, 1<<30
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	status, err := rc.br.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 101") {
		t.Fatalf("upgrade %s: %q %v", path, status, err)
	}
	for {
		line, err := rc.br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	return rc
}

// closeCode reads until the server's close frame and returns its code; 0
// when the connection ended without one (a TCP close), -1 on timeout.
func (rc *rawWS) closeCode(timeout time.Duration) int {
	_ = rc.SetReadDeadline(time.Now().Add(timeout))
	tmp := make([]byte, 64<<10)
	for {
		for {
			ev, n, err := rc.dec.Next(rc.buf)
			rc.buf = rc.buf[n:]
			if err != nil {
				return 0
			}
			if ev.Kind == codec.KindClose {
				return int(ev.Code)
			}
			if n == 0 && ev.Kind == codec.KindNone {
				break
			}
		}
		n, err := rc.br.Read(tmp)
		rc.buf = append(rc.buf, tmp[:n]...)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return -1
			}
			return 0
		}
	}
}

// echoer is a healthy /echo client that checks every echo.
type echoer struct {
	c    *websocket.Conn
	sent int
}

func (e *echoer) roundTrip(t *testing.T) {
	t.Helper()
	e.sent++
	msg := fmt.Sprintf("healthy %d", e.sent)
	_ = e.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := e.c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatalf("healthy client write: %v", err)
	}
	if _, p, err := e.c.ReadMessage(); err != nil || string(p) != msg {
		t.Fatalf("healthy client echo: %q %v", p, err)
	}
}

// Attack 1: connections each send the header of a 1,000,000-byte frame
// and 999,000 bytes of it, then stall.
func TestMemoryBudgetInboundAttack(t *testing.T) {
	const attackers = 96 // 96 MiB held without a budget: three times the budget
	n := startNode(t, "--memory-budget", strconv.Itoa(testBudget))
	pid := n.cmd.Process.Pid
	var healthy []*echoer
	for i := 0; i < 4; i++ {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+n.addr+"/echo", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		healthy = append(healthy, &echoer{c: c})
	}
	for _, e := range healthy {
		e.roundTrip(t)
	}
	base := procKB(t, pid, "VmRSS")

	mask := [4]byte{1, 2, 3, 4}
	attack := codec.AppendHeader(nil, true, codec.OpBinary, 1_000_000, &mask)
	attack = append(attack, make([]byte, 999_000)...)
	conns := make([]*rawWS, attackers)
	for i := range conns {
		conns[i] = dialRawWS(t, n.addr, "/echo", 0)
	}
	var wg sync.WaitGroup
	for i, rc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = rc.Write(attack) // fails once the node evicted it
		}()
		if i%8 == 7 {
			for _, e := range healthy {
				e.roundTrip(t)
			}
		}
	}
	wg.Wait()
	for _, e := range healthy {
		e.roundTrip(t)
	}

	// Each round evicts until the node holds under 90% of the budget, and
	// the next starts once it is over the budget again: at least the
	// attackers beyond the budget got 1013 (1 MiB each, as gnet's ring
	// holds them), the others still stall.
	codes := make([]int, len(conns))
	for i, rc := range conns {
		wg.Add(1)
		go func() { defer wg.Done(); codes[i] = rc.closeCode(300 * time.Millisecond) }()
	}
	wg.Wait()
	evicted := 0
	for _, code := range codes {
		switch code {
		case int(codec.StatusTryAgainLater):
			evicted++
		case -1: // still held, under the budget
		default:
			t.Fatalf("attacker ended with code %d, want 1013 or nothing", code)
		}
	}
	if min := attackers - testBudget/(1<<20); evicted < min {
		t.Fatalf("%d attackers evicted, want at least %d", evicted, min)
	}
	waitMetric(t, n, `wsnode_memory_evictions_total{direction="inbound"}`, float64(evicted))
	waitMetric(t, n, `wsnode_closes_total{code="1013"}`, float64(evicted))
	if held := scrape(t, n, "wsnode_held_bytes"); held > testBudget {
		t.Fatalf("wsnode_held_bytes = %v after the round, over the budget", held)
	}
	// Evictions are logged at warn, rate-limited (at most one line per
	// 100 ms, the next one saying how many were suppressed).
	if lines := strings.Count(n.logs(), "memory budget exceeded: connection evicted"); lines < 1 || lines >= evicted {
		t.Fatalf("%d eviction log lines for %d evictions, want at least one and fewer than the evictions", lines, evicted)
	}
	peak := procKB(t, pid, "VmHWM")
	t.Logf("RSS baseline %d MiB, peak %d MiB (+%d MiB; budget %d MiB + allowance %d MiB), %d of %d attackers evicted",
		base>>20, peak>>20, (peak-base)>>20, testBudget>>20, rssAllowance>>20, evicted, attackers)
	if peak-base > testBudget+rssAllowance {
		t.Fatalf("RSS grew by %d MiB, more than the budget plus the allowance", (peak-base)>>20)
	}
	for _, e := range healthy {
		e.roundTrip(t)
	}
	checkRSSReturns(t, n, base)
}

// checkRSSReturns waits up to 10 s for the node's RSS to come back within
// rssReturned of its baseline, and checks that the node handed memory back
// to the OS after the eviction.
func checkRSSReturns(t *testing.T, n *node, base int64) {
	t.Helper()
	pid := n.cmd.Process.Pid
	start := time.Now()
	for scrape(t, n, `wsnode_memory_releases_total{cause="eviction"}`) < 1 {
		if time.Since(start) > 5*time.Second {
			t.Fatal("no memory release after the eviction")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		rss := procKB(t, pid, "VmRSS")
		if rss-base <= rssReturned {
			t.Logf("RSS back to +%d MiB after %v", (rss-base)>>20, time.Since(start).Round(10*time.Millisecond))
			return
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("RSS still +%d MiB over its baseline 10 s after the eviction", (rss-base)>>20)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Attack 2: /chat members that never read (small receive buffers) while
// one user sends lines of 3.9 KB.
func TestMemoryBudgetOutboundAttack(t *testing.T) {
	const (
		hogs  = 60
		lines = 500 // 1.9 MB per hog, over --max-outbound-bytes: the budget acts first
	)
	n := startNode(t, "--memory-budget", strconv.Itoa(testBudget), "--chat-rate", "0")
	pid := n.cmd.Process.Pid
	readers := make([]*websocket.Conn, 3)
	for i := range readers {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+n.addr+"/chat", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, _, err := c.ReadMessage(); err != nil { // greeting
			t.Fatal(err)
		}
		readers[i] = c
	}
	sender, _, err := websocket.DefaultDialer.Dial("ws://"+n.addr+"/chat?name=sender", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	var hogConns []*rawWS
	for i := 0; i < hogs; i++ {
		hogConns = append(hogConns, dialRawWS(t, n.addr, "/chat", 4096))
	}
	waitMetric(t, n, "wsnode_chat_users", hogs+4)
	base := procKB(t, pid, "VmRSS")

	line := strings.Repeat("x", 3900)
	got := make([]int, len(readers))
	errs := make([]error, len(readers))
	var wg sync.WaitGroup
	for i, c := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			for got[i] < lines {
				_, p, err := c.ReadMessage()
				if err != nil {
					errs[i] = err
					return
				}
				if strings.HasPrefix(string(p), "[sender]: ") {
					got[i]++
				}
			}
		}()
	}
	go func() { // the sender's own copies
		for {
			if _, _, err := sender.ReadMessage(); err != nil {
				return
			}
		}
	}()
	for i := 0; i < lines; i++ {
		if err := sender.WriteMessage(websocket.TextMessage, []byte(line)); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
	}
	wg.Wait()
	for i, g := range got {
		if g != lines {
			t.Fatalf("healthy reader %d got %d of %d lines: %v\n%s", i, g, lines, errs[i], n.logs())
		}
	}
	evicted := scrape(t, n, `wsnode_memory_evictions_total{direction="outbound"}`)
	slow := scrape(t, n, "wsnode_slow_consumer_closes_total")
	peak := procKB(t, pid, "VmHWM")
	t.Logf("RSS baseline %d MiB, peak %d MiB (+%d MiB); %v hogs evicted, %v closed as slow consumers",
		base>>20, peak>>20, (peak-base)>>20, evicted, slow)
	// Every hog is gone: evicted once the node held more than the budget,
	// or closed on reaching --max-outbound-bytes (1 MiB) between two
	// eviction rounds, as they all grow at the same pace.
	if evicted < 1 || evicted+slow != hogs {
		t.Fatalf("%v hogs evicted and %v closed as slow consumers, want all %d, some evicted", evicted, slow, hogs)
	}
	for _, h := range hogConns[:5] { // a peer that cannot take a close frame gets a TCP close
		if code := h.closeCode(5 * time.Second); code != 0 {
			t.Fatalf("hog ended with %d, want a TCP close after the lines it was sent", code)
		}
	}
	if peak-base > testBudget+rssAllowance {
		t.Fatalf("RSS grew by %d MiB, more than the budget plus the allowance", (peak-base)>>20)
	}
	if held := scrape(t, n, "wsnode_held_bytes"); held > testBudget {
		t.Fatalf("wsnode_held_bytes = %v, over the budget", held)
	}
	checkRSSReturns(t, n, base)
}

// A frame trickled in a byte at a time is closed with 1008 once
// --message-timeout passes, though the connection is never idle.
func TestMessageTimeoutTrickle(t *testing.T) {
	n := startNode(t, "--message-timeout", "400ms")
	rc := dialRawWS(t, n.addr, "/echo", 0)
	mask := [4]byte{1, 2, 3, 4}
	hdr := codec.AppendHeader(nil, true, codec.OpBinary, 1000, &mask)
	if _, err := rc.Write(hdr); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	done := make(chan int, 1)
	go func() { done <- rc.closeCode(5 * time.Second) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case code := <-done:
			if code != int(codec.StatusPolicyViolation) {
				t.Fatalf("trickler ended with %d, want close 1008", code)
			}
			if d := time.Since(start); d < 400*time.Millisecond || d > 3*time.Second {
				t.Fatalf("closed after %v, want soon after the 400ms message timeout", d)
			}
			waitMetric(t, n, "wsnode_message_timeouts_total", 1)
			return
		case <-tick.C:
			_, _ = rc.Write([]byte{0}) // one more payload byte: never idle
		}
	}
}

// /chat closes a frame announcing more than 4 × --chat-max-line with 1009
// at its header, before any payload; /echo accepts the same header.
func TestChatLimitAtHeader(t *testing.T) {
	n := startNode(t, "--chat-max-line", "1000")
	mask := [4]byte{1, 2, 3, 4}
	chat := dialRawWS(t, n.addr, "/chat", 0)
	if _, err := chat.Write(codec.AppendHeader(nil, true, codec.OpText, 4001, &mask)); err != nil {
		t.Fatal(err)
	}
	if code := chat.closeCode(5 * time.Second); code != int(codec.StatusMessageTooBig) {
		t.Fatalf("/chat frame of 4001 bytes announced: ended with %d, want close 1009 at the header", code)
	}
	chat.Close() // the node counts the close once TCP is closed
	waitMetric(t, n, `wsnode_closes_total{code="1009"}`, 1)

	ok := dialRawWS(t, n.addr, "/chat", 0)
	ok.closeCode(100 * time.Millisecond) // skip the greeting
	payload := strings.Repeat("y", 4000)
	if _, err := ok.Write(codec.AppendFrame(nil, true, codec.OpText, []byte(payload), &mask)); err != nil {
		t.Fatal(err)
	}
	if code := ok.closeCode(300 * time.Millisecond); code != -1 {
		t.Fatalf("/chat frame of 4000 bytes: ended with %d, want it served (an error line)", code)
	}

	echo := dialRawWS(t, n.addr, "/echo", 0)
	if _, err := echo.Write(codec.AppendHeader(nil, true, codec.OpBinary, 100_000, &mask)); err != nil {
		t.Fatal(err)
	}
	if code := echo.closeCode(300 * time.Millisecond); code != -1 {
		t.Fatalf("/echo frame of 100,000 bytes announced: ended with %d, want it accepted", code)
	}
	if _, err := echo.Write(make([]byte, 100_000)); err != nil {
		t.Fatal(err)
	}
	_ = echo.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(echo.br, make([]byte, 10+100_000)); err != nil {
		t.Fatalf("/echo of 100,000 bytes: %v", err)
	}
}
