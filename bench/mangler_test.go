package bench_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// mangler is a TCP proxy written for these tests: it sits between wsbench
// and a real node and, frame by frame, does to the bench's chat messages
// (broadcasts and whispers, server to client) what its rule says: pass,
// drop, duplicate, delay, or close the connection. It counts exactly what
// it did, which is the truth a report is checked against. Its listener may
// also stop accepting for a while (pause), with a backlog of one, so that
// further connects wait for the kernel's SYN retransmission, as they do
// against an overloaded server. One goroutine per direction and connection
// is fine in a test.
type mangler struct {
	t        testing.TB
	ln       net.Listener
	upstream string
	rule     func(c *mconn, m benchMsg) verdict

	mu      sync.Mutex
	conns   []*mconn
	pausing chan struct{} // closed when a pause ends; nil: accepting
	wg      sync.WaitGroup

	dropped, duplicated, delayed, closed atomic.Int64
}

// verdict is what the rule does with one bench message.
type verdict int

const (
	pass verdict = iota
	drop
	dup       // forward it twice
	delay     // hold it (and what follows on that connection) for delayFor
	closeConn // forward it, then close the client's side; what the server still sends is counted, not forwarded
)

// delayFor is how long a delayed message is held.
const delayFor = 250 * time.Millisecond

// mconn is one proxied connection: idx in accept order, and the bench user
// it carries once its first message to the server told (-1 until then).
type mconn struct {
	idx     int
	user    atomic.Int64
	client  net.Conn
	server  net.Conn
	since   time.Time
	closing atomic.Bool // closeConn: the server side is drained, not closed by up
	// seen counts the bench messages read from the server, whatever the
	// rule did with them, drained ones included.
	seen atomic.Int64
	// closeConn: closedAt is when the client side was ended (Unix ns), ended
	// when up read the bench's own close after it, drained the stamps of
	// the bench messages the server sent after closedAt (never delivered).
	closedAt, ended atomic.Int64
	mu              sync.Mutex
	drained         []int64
}

// benchMsg is a bench chat message as it crosses the proxy.
type benchMsg struct {
	kind   byte // 'B' or 'W'
	sender int
	seq    int
	sent   int64         // its stamp: Unix ns (the bench's clock, in this process)
	at     time.Duration // since the connection was accepted
}

// newMangler proxies to upstream (host:port) until the test ends; rule
// nil passes everything.
func newMangler(t testing.TB, upstream string, rule func(c *mconn, m benchMsg) verdict) *mangler {
	t.Helper()
	return newManglerBacklog(t, 1024, upstream, rule)
}

// newManglerBacklog is newMangler with the given accept backlog: 1 makes
// pause hold every dialer past the first in SYN retransmission (a larger
// backlog completes their handshakes in the kernel). Only a test of that
// wants 1: a small backlog drops SYNs of a burst of dials on a loaded
// machine, and the retransmission (1 s, then 3 s) can outlast a handshake
// timeout.
func newManglerBacklog(t testing.TB, backlog int, upstream string, rule func(c *mconn, m benchMsg) verdict) *mangler {
	t.Helper()
	p := &mangler{t: t, upstream: upstream, rule: rule, ln: listenBacklog(t, backlog)}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		p.ln.Close()
		p.resume()
		p.mu.Lock()
		for _, c := range p.conns {
			c.client.Close()
			c.server.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// listenBacklog listens on 127.0.0.1:0 with the given accept backlog
// (net.Listen takes the system's).
func listenBacklog(t testing.TB, backlog int) net.Listener {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, backlog); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "mangler")
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// url is the proxy's ws:// URL.
func (p *mangler) url() string { return "ws://" + p.ln.Addr().String() }

// pause stops accepting for d: connections beyond the backlog wait in SYN
// retransmission.
func (p *mangler) pause(d time.Duration) {
	p.mu.Lock()
	p.pausing = make(chan struct{})
	p.mu.Unlock()
	time.AfterFunc(d, p.resume)
}

func (p *mangler) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pausing != nil {
		close(p.pausing)
		p.pausing = nil
	}
}

func (p *mangler) accept() {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		wait := p.pausing
		p.mu.Unlock()
		if wait != nil {
			<-wait
		}
		cc, err := p.ln.Accept()
		if err != nil {
			return
		}
		sc, err := net.Dial("tcp", p.upstream)
		if err != nil {
			cc.Close()
			continue
		}
		p.mu.Lock()
		c := &mconn{idx: len(p.conns), client: cc, server: sc, since: time.Now()}
		c.user.Store(-1)
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.up(c)
		go p.down(c)
	}
}

// up copies client to server, learning the connection's bench user from
// its first message.
func (p *mangler) up(c *mconn) {
	defer p.wg.Done()
	defer func() {
		if !c.closing.Load() {
			c.server.Close()
		}
	}()
	r := bufio.NewReader(c.client)
	if err := copyHead(c.server, r, "\r\n\r\n"); err != nil {
		return
	}
	for {
		raw, payload, err := readFrame(r)
		if err != nil {
			if c.closing.Load() {
				c.ended.Store(time.Now().UnixNano())
			}
			return
		}
		if m, ok := parseBench(payload); ok {
			c.user.CompareAndSwap(-1, int64(m.sender))
		}
		if _, err := c.server.Write(raw); err != nil {
			return
		}
	}
}

// down copies server to client, applying the rule to bench messages.
func (p *mangler) down(c *mconn) {
	defer p.wg.Done()
	defer c.client.Close()
	r := bufio.NewReader(c.server)
	if err := copyHead(c.client, r, "\r\n\r\n"); err != nil {
		return
	}
	for {
		raw, payload, err := readFrame(r)
		if err != nil {
			return
		}
		v := pass
		if m, ok := parseBench(payload); ok {
			c.seen.Add(1)
			if p.rule != nil {
				m.at = time.Since(c.since)
				v = p.rule(c, m)
			}
		}
		switch v {
		case drop:
			p.dropped.Add(1)
			continue
		case dup:
			p.duplicated.Add(1)
			raw = append(raw, raw...)
		case delay:
			p.delayed.Add(1)
			time.Sleep(delayFor)
		}
		if _, err := c.client.Write(raw); err != nil {
			return
		}
		if v == closeConn {
			p.closed.Add(1)
			p.drainClosed(c, r, time.Now().UnixNano())
			return
		}
	}
}

// drainClosed ends c's client side at closedAt (a FIN, so that what was
// forwarded arrives; a close with unread input would reset it) and reads
// what the server still sends it, until the test's end closes the server
// side: the messages sent before the close are lost to that user.
func (p *mangler) drainClosed(c *mconn, r *bufio.Reader, closedAt int64) {
	c.closedAt.Store(closedAt)
	c.closing.Store(true)
	_ = c.client.(*net.TCPConn).CloseWrite()
	defer c.server.Close()
	for {
		_, payload, err := readFrame(r)
		if err != nil {
			return
		}
		if m, ok := parseBench(payload); ok {
			c.seen.Add(1)
			c.mu.Lock()
			c.drained = append(c.drained, m.sent)
			c.mu.Unlock()
		}
	}
}

// afterClose counts, among what the server sent a connection closed by
// closeConn, the messages sent before the close (lost: never delivered)
// and those sent between the close and the bench's own close of it
// (asClosed). The bench cut the user somewhere in between (wsbench stamps
// the cut in gnet's OnClose, which runs before gnet closes the socket), so
// each of those is lost or not expected, as the bench's cut says. Call it
// once the server has sent the connection every message (the test waits
// for seen).
func (c *mconn) afterClose() (lost, asClosed int64) {
	closedAt, ended := c.closedAt.Load(), c.ended.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, sent := range c.drained {
		switch {
		case sent < closedAt:
			lost++
		case sent < ended:
			asClosed++
		}
	}
	return lost, asClosed
}

// conn is the idx'th connection accepted.
func (p *mangler) conn(idx int) *mconn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns[idx]
}

// copyHead copies the HTTP head (up to and including end) from r to w.
func copyHead(w io.Writer, r *bufio.Reader, end string) error {
	var head []byte
	for !bytes.HasSuffix(head, []byte(end)) {
		b, err := r.ReadByte()
		if err != nil {
			return err
		}
		head = append(head, b)
	}
	_, err := w.Write(head)
	return err
}

// readFrame reads one WebSocket frame: its bytes as they came, and its
// payload unmasked.
func readFrame(r *bufio.Reader) (raw, payload []byte, err error) {
	raw = make([]byte, 2, 14)
	if _, err = io.ReadFull(r, raw); err != nil {
		return nil, nil, err
	}
	n := uint64(raw[1] & 0x7f)
	masked := raw[1]&0x80 != 0
	switch n {
	case 126:
		raw = raw[:4]
		if _, err = io.ReadFull(r, raw[2:]); err != nil {
			return nil, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(raw[2:]))
	case 127:
		raw = raw[:10]
		if _, err = io.ReadFull(r, raw[2:]); err != nil {
			return nil, nil, err
		}
		n = binary.BigEndian.Uint64(raw[2:])
	}
	var key []byte
	if masked {
		h := len(raw)
		raw = append(raw, 0, 0, 0, 0)
		if _, err = io.ReadFull(r, raw[h:]); err != nil {
			return nil, nil, err
		}
		key = raw[h:]
	}
	if n > 1<<20 {
		return nil, nil, errors.New("mangler: frame too large")
	}
	h := len(raw)
	raw = append(raw, make([]byte, n)...)
	if _, err = io.ReadFull(r, raw[h:]); err != nil {
		return nil, nil, err
	}
	payload = append([]byte(nil), raw[h:]...)
	for i := range payload {
		if masked {
			payload[i] ^= key[i%4]
		}
	}
	return raw, payload, nil
}

// parseBench finds a bench chat message (payload.go's layout) in a frame's
// payload.
func parseBench(p []byte) (benchMsg, bool) {
	i := bytes.Index(p, []byte("#wsb"))
	if i < 0 || len(p)-i < 45 || (p[i+4] != 'B' && p[i+4] != 'W') {
		return benchMsg{}, false
	}
	sender, err1 := strconv.ParseUint(string(p[i+5:i+13]), 16, 32)
	seq, err2 := strconv.ParseUint(string(p[i+13:i+21]), 16, 32)
	sent, err3 := strconv.ParseUint(string(p[i+29:i+45]), 16, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return benchMsg{}, false
	}
	return benchMsg{kind: p[i+4], sender: int(sender), seq: int(seq), sent: int64(sent)}, true
}

// pick is a deterministic pseudo-random choice of pct percent of the
// messages (sender, seq) at connection c, salt choosing among independent
// choices.
func pick(c *mconn, m benchMsg, salt, pct uint64) bool {
	h := uint64(c.idx)*0x9e3779b97f4a7c15 ^ uint64(m.sender)*0xbf58476d1ce4e5b9 ^ uint64(m.seq)*0x94d049bb133111eb ^ salt
	h ^= h >> 31
	h *= 0xd6e8feb86479f3c3
	h ^= h >> 29
	return h%100 < pct
}
