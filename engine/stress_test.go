package engine_test

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edgews/codec"
	"edgews/engine"
)

// TestStress runs one node (2 loops, Upgraders off the loops, a 2 MiB
// memory budget, short timeouts) under clients that mix what the walks over
// connections and the upgrade path must survive together: peers that reset
// in the middle of a burst the node is answering, inbound and outbound
// memory hogs evicted by the budget, heads trickled in pieces, bytes sent
// before the upgrade is answered (within and beyond the allowance), refused
// upgrades, and ordinary echo traffic; then it drains the node while they
// go on. Run under -race (make test does). Nothing may panic, every
// OnOpen must be matched by exactly one OnClose, and once the node has
// stopped it holds no bytes, no sockets and no connections.
//
// It runs for STRESS_DURATION (a Go duration; 4s if unset): make stress
// runs it for a minute.
func TestStress(t *testing.T) {
	d := 4 * time.Second
	if v := os.Getenv("STRESS_DURATION"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatalf("STRESS_DURATION: %v", err)
		}
	}
	h := &stressHandler{open: make(map[*engine.Conn]bool)}
	cfg := engine.Config{
		Loops:            2,
		UpgradeWorkers:   2,
		MemoryBudget:     2 << 20,
		MaxHeaderBytes:   2048,
		MaxOutboundBytes: 512 << 10,
		SocketSendBuffer: 32 << 10, // output backs up in the node, not the kernel
		HandshakeTimeout: 500 * time.Millisecond,
		MessageTimeout:   400 * time.Millisecond,
		Timeout:          2 * time.Second,
		CloseTimeout:     200 * time.Millisecond,
		PingPeriod:       100 * time.Millisecond,
		Logger:           discardLogger(),
	}
	srv := startServer(t, cfg, func(s *engine.Server) {
		s.Handle("/gate", &stressGate{h})
		s.Handle("/echo", h)
	})
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %v", seed, d)
	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		echoes  atomic.Int64
		actions [numScenarios]atomic.Int64
	)
	for w := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for i := 0; !stop.Load(); i++ {
				sc := (w + i) % numScenarios
				actions[sc].Add(1)
				echoes.Add(int64(runScenario(srv.Addr().String(), sc, rng)))
			}
		}()
	}
	time.Sleep(d)
	// Drain while the clients go on: the listener closes, every open
	// connection is sent 1001, and those that do not answer are cut after
	// CloseTimeout.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := srv.Shutdown(ctx)
	cancel()
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := srv.Wait(); !errors.Is(err, engine.ErrServerClosed) {
		t.Fatalf("Run returned %v", err)
	}
	st := srv.Stats()
	t.Logf("scenarios %v, echoes %d, upgrades %d, evicted %v, slow consumers %d, message timeouts %d, refused %v, refused by upgrader %v",
		counts(actions[:]), echoes.Load(), st.Upgrades, st.Evicted, st.SlowConsumers, st.MessageTimeouts, st.Refused, st.RefusedBy)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.bad != "" {
		t.Fatal(h.bad)
	}
	if len(h.open) != 0 || h.opens != h.closes {
		t.Fatalf("%d OnOpen, %d OnClose, %d connections without OnClose", h.opens, h.closes, len(h.open))
	}
	if n := engine.Sockets(srv); n != 0 || srv.OpenConns() != 0 || srv.HeldBytes() != 0 {
		t.Fatalf("stopped node: %d sockets, %d open connections, %d bytes held; want none", n, srv.OpenConns(), srv.HeldBytes())
	}
	// What the test claims to mix did happen.
	if echoes.Load() == 0 || st.Evicted[engine.DirInbound] == 0 || st.Refused[engine.ReasonBadRequest] == 0 || st.RefusedBy["stress"] == 0 {
		t.Fatalf("echoes %d, inbound evictions %d, early-data refusals %d, upgrader refusals %d: want each > 0",
			echoes.Load(), st.Evicted[engine.DirInbound], st.Refused[engine.ReasonBadRequest], st.RefusedBy["stress"])
	}
}

// discardLogger drops the node's logs: a debug line per connection, from
// thousands, would bury the test's output.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func counts(a []atomic.Int64) []int64 {
	out := make([]int64, len(a))
	for i := range a {
		out[i] = a[i].Load()
	}
	return out
}

// stressHandler echoes; a message starting with 'B' is answered with
// 300 KiB, more than the loop's arena, so it is written at once (where a
// reset peer closes the connection inside the handler). It checks that
// every connection is opened and closed once.
type stressHandler struct {
	mu     sync.Mutex
	open   map[*engine.Conn]bool
	opens  int
	closes int
	bad    string
}

var big = make([]byte, 300<<10)

func (h *stressHandler) OnOpen(c *engine.Conn) {
	h.mu.Lock()
	if h.open[c] && h.bad == "" {
		h.bad = "OnOpen twice for one connection"
	}
	h.open[c] = true
	h.opens++
	h.mu.Unlock()
}

func (h *stressHandler) OnMessage(c *engine.Conn, op codec.OpCode, p []byte) {
	if len(p) > 0 && p[0] == 'B' {
		_ = c.Send(codec.OpBinary, big)
		return
	}
	_ = c.Send(op, p)
}

func (h *stressHandler) OnClose(c *engine.Conn, _ codec.StatusCode, _ string) {
	h.mu.Lock()
	if !h.open[c] && h.bad == "" {
		h.bad = "OnClose for a connection not open"
	}
	delete(h.open, c)
	h.closes++
	h.mu.Unlock()
}

// stressGate is stressHandler behind an Upgrader that takes up to 2 ms
// (on UpgradeWorkers) and refuses "?deny".
type stressGate struct{ *stressHandler }

func (stressGate) Upgrade(r *engine.Request) (any, *engine.Refusal) {
	time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
	if strings.Contains(r.RawQuery, "deny") {
		return nil, &engine.Refusal{Status: 403, Reason: "stress"}
	}
	return nil, nil
}

const (
	scEcho       = iota // open, echo a few messages, close politely
	scResetBurst        // open, send a burst (big answers among it), reset at once
	scHogIn             // hold a large partial frame until evicted or timed out; sometimes reset
	scHogOut            // ask for big answers and do not read; then reset or close
	scEarly             // /gate with frames behind the request: within the allowance or far beyond
	scTrickle           // the head in small pieces; sometimes abandoned with a reset
	scDeny              // refused by the Upgrader
	numScenarios
)

// runScenario plays one scenario against addr and returns the echoes it
// saw. Errors are the point of most scenarios and are not reported: the
// test checks the node, not the clients.
func runScenario(addr string, sc int, rng *rand.Rand) (echoed int) {
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0 // the listener is closed: draining
	}
	c := &stressClient{conn: nc.(*net.TCPConn), br: bufio.NewReader(nc)}
	c.dec.Role = codec.RoleClient
	c.dec.MaxFrameSize, c.dec.MaxMessageSize = 1<<30, 1<<30
	defer func() {
		if rng.IntN(2) == 0 {
			c.reset()
		}
		_ = nc.Close()
	}()
	path := "/echo"
	if rng.IntN(2) == 0 {
		path = "/gate"
	}
	req := []byte(strings.Replace(upgradeReq, "%s", path, 1))
	switch sc {
	case scEarly:
		req = []byte(strings.Replace(upgradeReq, "%s", "/gate", 1))
		n := 1 + rng.IntN(3)
		if rng.IntN(2) == 0 {
			n = 40 // 40 x 220 bytes: beyond 2 KiB + 4 KiB
		}
		for range n {
			req = append(req, frame(true, codec.OpText, make([]byte, 200))...)
		}
		c.write(req)
	case scTrickle:
		for i := 0; i < len(req); {
			k := min(1+rng.IntN(40), len(req)-i)
			c.write(req[i : i+k])
			i += k
			time.Sleep(time.Duration(rng.IntN(300)) * time.Microsecond)
			if rng.IntN(200) == 0 {
				c.reset()
				return 0
			}
		}
	case scDeny:
		c.write([]byte(strings.Replace(upgradeReq, "%s", "/gate?deny", 1)))
	default:
		c.write(req)
	}
	if !c.upgraded() {
		return 0
	}
	switch sc {
	case scEcho, scEarly, scTrickle:
		for range 1 + rng.IntN(5) {
			msg := make([]byte, 1+rng.IntN(2000))
			c.write(frame(true, codec.OpText, msg))
			if ev, err := c.next(time.Second); err == nil && ev.Kind == codec.KindMessage {
				echoed++
			}
		}
		c.write(frame(true, codec.OpClose, []byte{3, 232}))
		for {
			if ev, err := c.next(time.Second); err != nil || ev.Kind == codec.KindClose {
				break
			}
		}
	case scResetBurst:
		var burst []byte
		for range 1 + rng.IntN(10) {
			p := []byte("small")
			if rng.IntN(3) == 0 {
				p = []byte("Big")
			}
			burst = append(burst, frame(true, codec.OpBinary, p)...)
		}
		c.write(burst)
		if rng.IntN(2) == 0 {
			time.Sleep(time.Duration(rng.IntN(500)) * time.Microsecond)
		}
		c.reset()
	case scHogIn:
		m := codec.NewMask()
		c.write(codec.AppendHeader(nil, true, codec.OpBinary, 1<<20, &m))
		c.write(make([]byte, 200_000+rng.IntN(400_000)))
		if rng.IntN(3) == 0 {
			time.Sleep(time.Duration(rng.IntN(50)) * time.Millisecond)
			c.reset()
			return 0
		}
		for { // until evicted (1013), timed out (1008) or drained (1001)
			if _, err := c.next(time.Second); err != nil {
				break
			}
		}
	case scHogOut:
		_ = c.conn.SetReadBuffer(4 << 10)
		for range 4 + rng.IntN(8) {
			c.write(frame(true, codec.OpBinary, []byte("Big")))
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
	}
	return echoed
}

// stressClient is a raw WebSocket client whose errors are returned, not
// reported: the scenarios expect resets and closes.
type stressClient struct {
	conn *net.TCPConn
	br   *bufio.Reader
	dec  codec.Decoder
	buf  []byte
}

func (c *stressClient) write(b []byte) {
	_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.conn.Write(b)
}

// reset closes with an RST.
func (c *stressClient) reset() {
	_ = c.conn.SetLinger(0)
	_ = c.conn.Close()
}

// upgraded reads the answer to the request: true for a 101.
func (c *stressClient) upgraded() bool {
	_ = c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	status, err := c.br.ReadString('\n')
	if err != nil {
		return false
	}
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			return false
		}
		if line == "\r\n" {
			return strings.HasPrefix(status, "HTTP/1.1 101 ")
		}
	}
}

// next reads the next frame from the server.
func (c *stressClient) next(d time.Duration) (codec.Event, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	return nextFrame(c.br, &c.dec, &c.buf)
}
