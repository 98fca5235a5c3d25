package bench

import (
	"fmt"
	"net"
	"time"

	"edgews/codec"
)

// The attack scenarios (attack-inbound, attack-outbound) let users test
// their own node's memory defences: they are bounded in count, bytes and
// time, and refuse any server that is not on a loopback address.

// Defaults used for the zero fields of Config in the attack scenarios.
const (
	DefaultHealthy     = 4
	DefaultAttackFrame = 1_000_000 // bytes announced by an inbound attacker's frame header
	DefaultSendFrac    = 0.999     // of the frame's body sent before stalling
	DefaultAttackLines = 3000      // lines the outbound sender sends
	DefaultAttackLine  = 3900      // bytes per line: under the node's 4 KB --chat-max-line
	DefaultAttackRate  = 1000      // outbound lines per second
	DefaultHogRcvBuf   = 4096      // SO_RCVBUF of a hog (the kernel doubles it)
	DefaultSettle      = 10 * time.Second
)

// Bounds of the attack scenarios: a run above any of them is refused.
const (
	MaxAttackConns    = 10_000   // attackers or hogs: one process's descriptors
	MaxHealthy        = 1000     // healthy clients
	MaxAttackFrame    = 64 << 20 // announced frame size
	MaxAttackBytes    = 4 << 30  // attackers x frame size
	MaxAttackLines    = 1_000_000
	MaxAttackLine     = 64 << 10 // outbound line size
	MaxAttackRate     = 10_000   // outbound lines per second
	MaxAttackDuration = 10 * time.Minute
	MaxSettle         = 5 * time.Minute
)

// attack reports whether s is one of the attack scenarios.
func (s Scenario) attack() bool { return s == AttackInbound || s == AttackOutbound }

// role is what a connection does in a run.
type role uint8

const (
	roleUser     role = iota // every connection of the other scenarios
	roleAttacker             // attack-inbound: a partial frame, then a stall
	roleHog                  // attack-outbound: never reads (not on a gnet loop, see hog.go)
	roleHealthy              // beside an attack: echoes (inbound) or reads (outbound)
	roleSender               // attack-outbound: sends the lines
)

// users is how many connections a run opens: Conns, plus the healthy
// clients and the sender of an attack.
func (c *Config) users() int {
	switch c.Scenario {
	case AttackInbound:
		return c.Conns + c.Healthy
	case AttackOutbound:
		return c.Conns + c.Healthy + 1
	}
	return c.Conns
}

// roleOf is user id's role: attackers or hogs first, then the healthy
// clients, then the sender.
func (c *Config) roleOf(id int) role {
	switch {
	case !c.Scenario.attack():
		return roleUser
	case id < c.Conns && c.Scenario == AttackInbound:
		return roleAttacker
	case id < c.Conns:
		return roleHog
	case id < c.Conns+c.Healthy:
		return roleHealthy
	}
	return roleSender
}

// attackDefaults checks an attack's target and bounds and sets its
// defaults, before the generic ones. host is the URL's host.
func (c *Config) attackDefaults(host string) error {
	if err := checkLoopback(host); err != nil {
		return err
	}
	if c.Procs > 1 {
		return fmt.Errorf("bench: %s runs in one process (--procs 1); it is bounded to %d connections", c.Scenario, MaxAttackConns)
	}
	if c.Conns < 0 || c.Healthy < 0 || c.FrameSize < 0 || c.SendFrac < 0 || c.Trickle < 0 || c.Lines < 0 ||
		c.HogRcvBuf < 0 || c.Settle < 0 || c.Duration < 0 || c.Payload < 0 || c.Rate < 0 {
		return fmt.Errorf("bench: %s: negative count, size or duration", c.Scenario)
	}
	if c.Conns == 0 {
		c.Conns = DefaultConns[c.Scenario]
	}
	if c.Healthy == 0 {
		c.Healthy = DefaultHealthy
	}
	if c.Settle == 0 {
		c.Settle = DefaultSettle
	}
	switch c.Scenario {
	case AttackInbound:
		if c.FrameSize == 0 {
			c.FrameSize = DefaultAttackFrame
		}
		if c.SendFrac == 0 {
			c.SendFrac = DefaultSendFrac
		}
		if c.SendFrac > 1 {
			return fmt.Errorf("bench: %s: send fraction %v is over 1", c.Scenario, c.SendFrac)
		}
	case AttackOutbound:
		if c.Lines == 0 {
			c.Lines = DefaultAttackLines
		}
		if c.Payload == 0 {
			c.Payload = DefaultAttackLine
		}
		if c.Rate == 0 {
			c.Rate = DefaultAttackRate
		}
		if c.HogRcvBuf == 0 {
			c.HogRcvBuf = DefaultHogRcvBuf
		}
		c.Senders = 1
		if c.Duration == 0 {
			// Twice what every line takes at Rate, plus a second: the pacer
			// delays lines it cannot send on time rather than skip them,
			// and the run goes on to the drain once every line is out.
			c.Duration = 2*time.Duration(float64(c.Lines)/c.Rate*float64(time.Second)) + time.Second
		}
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	over := func(what string, v, limit any) error {
		return fmt.Errorf("bench: %s: %s %v is over the bound of %v", c.Scenario, what, v, limit)
	}
	switch {
	case c.Conns > MaxAttackConns:
		return over("connections", c.Conns, MaxAttackConns)
	case c.Healthy > MaxHealthy:
		return over("healthy clients", c.Healthy, MaxHealthy)
	case c.FrameSize > MaxAttackFrame:
		return over("frame size", c.FrameSize, MaxAttackFrame)
	case int64(c.Conns)*int64(c.FrameSize) > MaxAttackBytes:
		return over("connections x frame size", int64(c.Conns)*int64(c.FrameSize), int64(MaxAttackBytes))
	case c.Lines > MaxAttackLines:
		return over("lines", c.Lines, MaxAttackLines)
	case c.Scenario == AttackOutbound && c.Payload > MaxAttackLine:
		return over("line size", c.Payload, MaxAttackLine)
	case c.Scenario == AttackOutbound && c.Rate > MaxAttackRate:
		return over("line rate", c.Rate, MaxAttackRate)
	case c.Duration > MaxAttackDuration:
		return over("duration", c.Duration, MaxAttackDuration)
	case c.Settle > MaxSettle:
		return over("settle time", c.Settle, MaxSettle)
	}
	return nil
}

// checkLoopback refuses a host that is not a loopback address (or a name
// whose every address is one): the attacks are for testing one's own node.
func checkLoopback(host string) error {
	ips := []net.IP{net.ParseIP(host)}
	if ips[0] == nil {
		ips = nil
		if addrs, err := net.LookupIP(host); err == nil {
			ips = addrs
		}
	}
	if len(ips) == 0 {
		return fmt.Errorf("bench: attack scenarios only target a loopback server (127.0.0.0/8 or ::1): cannot resolve %q", host)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("bench: attack scenarios only target a loopback server (127.0.0.0/8 or ::1), to test your own node: %q is %s", host, ip)
		}
	}
	return nil
}

// attackFrame builds the frame an inbound attacker writes part of: the
// header announcing FrameSize payload bytes and the whole masked payload,
// both by the codec's encoder. One per loop; all its attackers share the
// mask (the server cannot tell).
func attackFrame(size int) []byte {
	mask := codec.NewMask()
	return codec.AppendFrame(nil, true, codec.OpBinary, make([]byte, size), &mask)
}

// attackClose is one attacker (or hog) the server closed.
type attackClose struct {
	Code int   `json:"code"` // close code received; 0: TCP closed without a close frame
	Ms   int64 `json:"ms"`   // since the attack began; -1: not known (hogs)
}

// attackResult is a worker's attack-specific counts.
type attackResult struct {
	Attackers int           `json:"attackers"`   // open when the attack began (inbound) or opened (hogs)
	Bytes     int64         `json:"bytes"`       // inbound: frame bytes written, headers included
	Closes    []attackClose `json:"closes"`      // closed by the server
	OpenAtEnd int           `json:"open_at_end"` // still open at the end
	HogBytes  int64         `json:"hog_bytes"`   // outbound: bytes the hogs read at the end
}

// startAttack writes an attacker's header and the first SendFrac of its
// body. Called at the start of the load phase.
func (l *loop) startAttack(c *conn) {
	n := l.atkHead + int(l.w.cfg.SendFrac*float64(l.w.cfg.FrameSize))
	n = min(n, len(l.atk)-1) // the frame never completes
	if err := l.write(c, l.atk[:n]); err != nil {
		return // closed; OnClose records it
	}
	c.atkOff = n
	l.st.attackBytes += int64(n)
}

// trickle writes one more body byte on every stalled attacker, every
// Trickle, while the attack lasts (never the frame's last byte).
func (l *loop) trickle(now int64) {
	if !every(&l.nextTrickle, now, l.w.cfg.Trickle) {
		return
	}
	for _, c := range l.conns {
		if c.role != roleAttacker || c.state != stateOpen || c.atkOff == 0 || c.atkOff >= len(l.atk)-1 {
			continue
		}
		if err := l.write(c, l.atk[c.atkOff:c.atkOff+1]); err != nil {
			continue
		}
		c.atkOff++
		l.st.attackBytes++
	}
}

// attackerClosed records an attacker the server closed.
func (l *loop) attackerClosed(c *conn) {
	ms := int64(-1)
	if start := l.w.startAt.Load(); start != 0 {
		ms = max(0, (nowNanos()-start)/1e6)
	}
	l.closes = append(l.closes, attackClose{Code: c.closeCode, Ms: ms})
}

// attackResult sums the loops' attack counts and the hogs' fates. The
// hogs have been drained (drainHogs) by then.
func (w *worker) attackResult() *attackResult {
	a := &attackResult{Closes: []attackClose{}}
	for _, l := range w.loopList() {
		l.mu.Lock()
		a.Attackers += l.st.attackers
		a.Bytes += l.st.attackBytes
		a.Closes = append(a.Closes, l.closes...)
		for _, c := range l.conns {
			if c.role == roleAttacker && c.state == stateOpen {
				a.OpenAtEnd++
			}
		}
		l.mu.Unlock()
	}
	w.hogsMu.Lock()
	defer w.hogsMu.Unlock()
	for _, h := range w.hogs {
		a.Attackers++
		a.HogBytes += h.read
		if h.closed {
			a.Closes = append(a.Closes, attackClose{Code: h.code, Ms: -1})
		} else {
			a.OpenAtEnd++
		}
	}
	return a
}
