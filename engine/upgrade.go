package engine

import (
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"
)

// Upgrader is implemented by Handlers that decide from the upgrade request
// whether a WebSocket connection may open: authentication, for example.
//
// Upgrade runs after the request passed the engine's syntax checks (route,
// RFC 6455 headers) and before the connection limits, Origin and the 101.
// It returns either the identity to attach to the connection, which is the
// Conn's Value when OnOpen runs (nil is fine; OnOpen may replace it with
// SetValue), or a Refusal, which is sent as the HTTP answer instead of the
// upgrade. It must not do network calls (fetch keys in the background and
// verify from memory). It may rewrite r.RawQuery, to drop a credential the
// connection should not keep: OnOpen and Conn.Request see the rewritten
// query.
//
// Where it runs. With Config.UpgradeWorkers zero, on the connection's event
// loop, inline: cheapest when Upgrade takes microseconds (an HMAC check
// takes about 10µs). With UpgradeWorkers set, on that many goroutines off
// the loops: the handshake is suspended (its bytes stay in gnet's buffer),
// and the answer comes back through Loop.Post, so a slow check (an RS256
// or ES256 signature, 100-200µs) never stalls the other connections of the
// loop during a connect storm. Upgrade must then be safe for concurrent use
// and must not touch loop state. README's Authentication section has the
// measurements of both.
type Upgrader interface {
	Upgrade(r *Request) (identity any, refuse *Refusal)
}

// Refusal is an upgrade refused by an Upgrader: the HTTP answer, and the
// reason it is counted and logged under.
type Refusal struct {
	// Status is the HTTP status. If zero, 403.
	Status int
	// Header holds extra "Name: value" lines (without CRLF), for example
	// `WWW-Authenticate: Bearer error="invalid_token"`.
	Header []string
	// Body is the plain-text body. If empty, the status text.
	Body string
	// Reason names the refusal in Stats.RefusedBy (a metric label) and in
	// the debug log line. It must come from a small fixed set, since every
	// distinct value is a counter kept for the server's life; it must not
	// hold request data (tokens). If empty, "upgrader".
	Reason string
}

// refusedBy counts Upgrader refusals by Refusal.Reason.
type refusedBy struct {
	m sync.Map // reason -> *atomic.Int64
}

func (r *refusedBy) add(reason string) {
	v, ok := r.m.Load(reason)
	if !ok {
		v, _ = r.m.LoadOrStore(strings.Clone(reason), new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
}

func (r *refusedBy) snapshot() map[string]int64 {
	out := map[string]int64{}
	r.m.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// appendRefusal appends the HTTP answer of a Refusal.
func appendRefusal(dst []byte, rf *Refusal) []byte {
	status := rf.Status
	if status == 0 {
		status = 403
	}
	body := rf.Body
	if body == "" {
		body = statusText(status)
	}
	return appendResponse(dst, Response{Status: status, Body: []byte(body + "\n"), Header: rf.Header})
}

// refuseUpgrade answers an Upgrader's refusal and closes.
func (c *Conn) refuseUpgrade(rf *Refusal) {
	s := c.loop.srv
	reason := rf.Reason
	if reason == "" {
		reason = "upgrader"
	}
	s.stats.refusedBy.add(reason)
	status := rf.Status
	if status == 0 {
		status = 403
	}
	// The request's query and headers are not logged: they may hold tokens.
	s.log.connDebug("refused", c, slog.Int("status", status), slog.String("reason", reason))
	c.discardIn(-1)
	c.writeRaw(appendRefusal(nil, rf))
	c.state = stateClosed
}

// whileUpgrading handles a read of a connection whose Upgrader decides off
// the loop: what the peer sent stays in gnet's buffer for the answer
// (upgradeJob.Run), charged to the memory budget and bounded by the head
// limit plus upgradeSlack; beyond that the connection is refused.
func (c *Conn) whileUpgrading() gnet.Action {
	if c.inBuffered() > c.loop.srv.cfg.MaxHeaderBytes+upgradeSlack {
		return c.refuse(errEarlyData)
	}
	c.account()
	return gnet.None
}

// upgradeQueuePerWorker bounds the upgrade requests waiting for each of
// Config.UpgradeWorkers; more are refused with 503. A var for tests.
var upgradeQueuePerWorker = 1024

// upgradeSlack is what a peer may send behind its request head while an
// Upgrader decides off the loop. RFC 6455 section 4.1 has a client wait
// for the answer before it sends frames; a few early frames are served
// once it opens, anything more is refused (errEarlyData).
const upgradeSlack = 4 << 10

var errEarlyData = &httpError{status: 400, reason: ReasonBadRequest, msg: "data sent before the upgrade was answered"}

var errUpgradeBusy = &httpError{status: 503, reason: ReasonUpgradeBusy, msg: "server busy", header: "Retry-After: 1\r\n"}

// upgradePool runs Upgraders off the loops, on a fixed number of
// goroutines fed by a bounded queue: no goroutine per connection, and a
// connect storm queues (or is refused) instead of stalling the loops.
type upgradePool struct {
	jobs chan *upgradeJob
	wg   sync.WaitGroup
}

func newUpgradePool(workers int) *upgradePool {
	p := &upgradePool{jobs: make(chan *upgradeJob, workers*upgradeQueuePerWorker)}
	p.wg.Add(workers)
	for range workers {
		go p.work()
	}
	return p
}

// submit queues j, or reports false when the queue is full. Never blocks.
func (p *upgradePool) submit(j *upgradeJob) bool {
	select {
	case p.jobs <- j:
		return true
	default:
		return false
	}
}

func (p *upgradePool) work() {
	defer p.wg.Done()
	for j := range p.jobs {
		j.id, j.rf = j.r.up.Upgrade(&j.req)
		_ = j.c.loop.Post(j) // on error the loops are stopping and close the connection
	}
}

// stop ends the workers once the queue is drained. Only after the loops
// stopped: they are the only ones that submit.
func (p *upgradePool) stop() {
	close(p.jobs)
	p.wg.Wait()
}

// upgradeJob is an upgrade request decided off the loop: the worker runs
// the Upgrader on its own copy of the request, then posts the job back to
// the connection's loop, where Run answers it as the handshake would have.
type upgradeJob struct {
	c   *Conn
	r   *route
	u   upgradeInfo
	end int // the request head's length, still in gnet's buffer
	req Request
	id  any      // the Upgrader's answer
	rf  *Refusal // or its refusal
}

func (j *upgradeJob) Run(l *Loop) {
	c := j.c
	if c.state != stateUpgrading {
		return // closed meanwhile: handshake timeout, drain, or the peer left
	}
	c.state = stateHandshake
	if j.rf != nil {
		c.refuseUpgrade(j.rf)
		_ = c.gc.Close()
		return
	}
	// Handler callbacks from here on run as in a read, not a task: what
	// they write is copied (WriteShared's task rule does not hold).
	l.inTask = false
	defer func() { l.inTask = true }()
	act, done := c.open(j.r, j.u, j.end, j.req, j.id)
	if done {
		act = c.readFrames(true) // frames that arrived with or after the request
	}
	if act == gnet.Close {
		_ = c.gc.Close()
	}
}

func (j *upgradeJob) Done() {}
