package engine

import (
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
)

// Upgrader is implemented by Handlers that decide from the upgrade request
// whether a WebSocket connection may open: authentication, for example.
//
// Upgrade runs on the connection's event loop after the engine's own checks
// (route, RFC 6455 headers, Origin, connection limits) passed and before the
// 101 is sent. It must not block: no network calls (fetch keys in the
// background and verify from memory). It returns either the identity to
// attach to the connection, which is the Conn's Value when OnOpen runs (nil
// is fine; OnOpen may replace it with SetValue), or a Refusal, which is sent
// as the HTTP answer instead of the upgrade.
//
// Why on the loop and not on a worker pool: verifying a JWT costs at most a
// few hundred microseconds (hub/auth's BenchmarkVerify: HS256 about 10µs,
// RS256 about 100µs, ES256 about 200µs on the 2-core reference machine), and
// an event loop that spends it stalls its other connections for that long
// only; a connect storm of 2,000 RS256 connects per second measured no
// echo p99 rise near 20ms (see README, Authentication). Suspending the
// handshake and answering through Loop.Post would add a task, a copy of
// the request and a state per connection for no measured gain.
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
	_, _ = c.gc.Discard(-1)
	_, _ = c.gc.Write(appendRefusal(nil, rf))
	c.state = stateClosed
}
