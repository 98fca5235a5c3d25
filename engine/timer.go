package engine

import (
	"log/slog"
	"time"

	"edgews/codec"
)

// sweepTask walks a loop's connections once per tick: handshake deadlines,
// message timeouts, idle timeouts, pings and close-handshake deadlines, and
// it refreshes the held bytes of connections that hold some (gnet sends
// queued output without telling the engine). It replaces a timer
// per connection: one pass over a slice of pointers is far cheaper than a
// million runtime timers, and needs no goroutine.
type sweepTask struct{ l *Loop }

// pingFrame is an empty ping, encoded once and shared by every connection.
var pingFrame = codec.AppendFrame(nil, true, codec.OpPing, nil, nil)

func (l *Loop) postSweep() {
	l.mu.Lock()
	busy := l.sweeping
	l.sweeping = true
	l.mu.Unlock()
	if !busy {
		l.counters.posted.Store(time.Now().UnixNano())
		_ = l.Post(&l.sweep)
	}
}

func (t *sweepTask) Run(l *Loop) {
	l.mu.Lock()
	l.sweeping = false
	l.mu.Unlock()
	cfg := &l.srv.cfg
	now := l.now
	if lag := now - l.counters.posted.Load(); lag > l.counters.lagMax.Load() {
		l.counters.lagMax.Store(lag)
	}
	// A write below can close a connection inside it (a peer's reset):
	// l.conns does not change until the event ends (Loop.removeConn), and
	// a closed connection matches no case.
	for _, c := range l.conns {
		if c.isTLS() {
			c.tlsSweep(now) // TLS handshake timeouts, idle AEADs
		}
		switch c.state {
		case stateHandshake, stateUpgrading:
			if now-c.t0 > int64(cfg.HandshakeTimeout) {
				l.srv.stats.refused[ReasonTimeout].Add(1)
				l.srv.log.connDebug("refused", c, slog.String("reason", ReasonTimeout.String()))
				c.closeNow()
			}
		case stateOpen:
			if c.t0 != 0 && now > c.t0 {
				l.srv.stats.msgTimeouts.Add(1)
				l.srv.log.connDebug("message timeout", c)
				c.closeWith(codec.StatusPolicyViolation, "message timeout")
				continue
			}
			if c.held != 0 {
				c.account() // the peer may have read what was queued for it
			}
			// lastRead is at least the upgrade's read: it is never older
			// than the connection.
			ping, timeout := c.timers(cfg.PingPeriod, cfg.Timeout)
			if timeout > 0 && now-c.lastRead > int64(timeout) {
				l.srv.log.connDebug("idle timeout", c)
				c.startClose(codec.StatusGoingAway, "timeout")
				continue
			}
			if ping > 0 && now-c.lastPing >= int64(ping) {
				c.lastPing = now
				c.WriteShared(pingFrame)
			}
		case stateClosing:
			if now > c.t0 {
				c.closeNow()
			}
		}
	}
	for _, f := range l.srv.sweepFns {
		f(l)
	}
}

func (t *sweepTask) Done() {}
