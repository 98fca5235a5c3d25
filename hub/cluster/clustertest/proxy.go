package clustertest

import (
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy on 127.0.0.1 between nodes and a NATS server that
// injects faults into the connections through it, as they happen on a
// real network:
//
//	p := clustertest.StartProxy(t, ns.URL())
//	cl, _ := cluster.New(cluster.Config{URLs: p.URL()})
//	p.SetLatency(100 * time.Millisecond) // each way, every byte
//	p.SetRate(256 << 10)                 // bytes per second, each way
//	p.Stall()                            // NATS silent: nothing forwarded, connections kept
//	p.Resume()
//	p.Down()                             // connections cut, new ones refused...
//	p.Up()                               // ...until Up
//
// It stops with the test.
type Proxy struct {
	target string
	ln     net.Listener

	mu      sync.Mutex
	latency time.Duration
	rate    int // bytes per second, each way; 0: unlimited
	stalled bool
	down    bool
	closed  bool
	pairs   map[*pair]struct{}

	wg sync.WaitGroup
}

// pair is one proxied connection: the node's side and the server's.
type pair struct {
	client, server net.Conn
	done           chan struct{}
	once           sync.Once
}

func (c *pair) close() {
	c.once.Do(func() {
		close(c.done)
		c.client.Close()
		c.server.Close()
	})
}

// StartProxy listens on 127.0.0.1 (a random port) and forwards to target,
// a nats:// URL or HOST:PORT.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	if len(target) > 7 && target[:7] == "nats://" {
		target = target[7:]
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{target: target, ln: ln, pairs: make(map[*pair]struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// URL is the proxy's nats:// URL.
func (p *Proxy) URL() string {
	return "nats://127.0.0.1:" + strconv.Itoa(p.ln.Addr().(*net.TCPAddr).Port)
}

// SetLatency delays every byte by d in each direction (0: none).
func (p *Proxy) SetLatency(d time.Duration) { p.mu.Lock(); p.latency = d; p.mu.Unlock() }

// SetRate limits each direction of each connection to bytesPerSec (0: no
// limit).
func (p *Proxy) SetRate(bytesPerSec int) { p.mu.Lock(); p.rate = bytesPerSec; p.mu.Unlock() }

// Stall stops forwarding in both directions, keeping the connections
// open: the server is silent, not gone (what arrives meanwhile waits in
// the proxy and the kernel's buffers). Resume forwards again.
func (p *Proxy) Stall()  { p.mu.Lock(); p.stalled = true; p.mu.Unlock() }
func (p *Proxy) Resume() { p.mu.Lock(); p.stalled = false; p.mu.Unlock() }

// Down cuts every connection through the proxy and refuses new ones
// (accepted and closed at once) until Up.
func (p *Proxy) Down() {
	p.mu.Lock()
	p.down = true
	pairs := make([]*pair, 0, len(p.pairs))
	for c := range p.pairs {
		pairs = append(pairs, c)
	}
	p.mu.Unlock()
	for _, c := range pairs {
		c.close()
	}
}

// Up accepts connections again after Down.
func (p *Proxy) Up() { p.mu.Lock(); p.down = false; p.mu.Unlock() }

// Close stops the proxy and cuts its connections.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.Down()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.down || p.closed
		p.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		cp := &pair{client: c, server: s, done: make(chan struct{})}
		p.mu.Lock()
		if p.down || p.closed {
			p.mu.Unlock()
			cp.close()
			continue
		}
		p.pairs[cp] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(4)
		go p.pipe(cp, s, c)
		go p.pipe(cp, c, s)
	}
}

// chunk is what one read got, and when.
type chunk struct {
	b  []byte
	at time.Time
}

// pipe forwards src to dst: a reader goroutine stamps what it reads, and
// this goroutine writes each chunk once its latency has passed (so
// latency does not cut throughput), while not stalled, at the rate.
func (p *Proxy) pipe(cp *pair, dst, src net.Conn) {
	defer p.wg.Done()
	defer func() {
		cp.close()
		p.mu.Lock()
		delete(p.pairs, cp)
		p.mu.Unlock()
	}()
	chunks := make(chan chunk, 64)
	go func() {
		defer p.wg.Done()
		defer close(chunks)
		for {
			b := make([]byte, 16<<10)
			n, err := src.Read(b)
			if n > 0 {
				select {
				case chunks <- chunk{b: b[:n], at: time.Now()}:
				case <-cp.done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range chunks {
		for b := c.b; len(b) > 0; {
			p.mu.Lock()
			latency, rate, stalled := p.latency, p.rate, p.stalled
			p.mu.Unlock()
			if wait := time.Until(c.at.Add(latency)); stalled || wait > 0 {
				if stalled || wait > 5*time.Millisecond {
					wait = 5 * time.Millisecond
				}
				select {
				case <-time.After(wait):
				case <-cp.done:
					return
				}
				continue
			}
			n := len(b)
			if rate > 0 {
				n = min(n, max(rate/100, 256)) // pieces of 10 ms at the rate
			}
			if _, err := dst.Write(b[:n]); err != nil {
				return
			}
			b = b[n:]
			if rate > 0 {
				select {
				case <-time.After(time.Duration(n) * time.Second / time.Duration(rate)):
				case <-cp.done:
					return
				}
			}
		}
	}
}
