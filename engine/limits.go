package engine

import (
	"net/netip"
	"strings"
	"sync"
)

var (
	errMaxConns      = &httpError{status: 503, reason: ReasonMaxConns, msg: "server at its connection limit", header: "Retry-After: 5\r\n"}
	errMaxConnsPerIP = &httpError{status: 429, reason: ReasonMaxConnsPerIP, msg: "too many connections from your address", header: "Retry-After: 5\r\n"}
	errOrigin        = &httpError{status: 403, reason: ReasonOrigin, msg: "origin not allowed"}
	errDraining      = &httpError{status: 503, reason: ReasonDraining, msg: "server shutting down", header: "Retry-After: 1\r\n"}
	errFDLimit       = &httpError{status: 503, reason: ReasonFDLimit, msg: "server at its connection limit", header: "Retry-After: 5\r\n"}
)

// perIP counts open connections by peer address, for MaxConnsPerIP. It is
// touched on upgrade and close only, never per message, so one lock serves.
type perIP struct {
	mu sync.Mutex
	n  map[netip.Addr]int32
}

// acquire takes a slot for ip unless it already holds max.
func (p *perIP) acquire(ip netip.Addr, max int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == nil {
		p.n = make(map[netip.Addr]int32)
	}
	if int(p.n[ip]) >= max {
		return false
	}
	p.n[ip]++
	return true
}

func (p *perIP) release(ip netip.Addr) {
	p.mu.Lock()
	if p.n[ip] <= 1 {
		delete(p.n, ip)
	} else {
		p.n[ip]--
	}
	p.mu.Unlock()
}

// originAllowed matches an Origin header against AllowedOrigins.
func originAllowed(origin string, allowed []string) bool {
	if len(allowed) == 0 || origin == "" {
		return true
	}
	for _, a := range allowed {
		if a == "*" || strings.EqualFold(a, origin) {
			return true
		}
		if pre, suf, ok := strings.Cut(a, "*"); ok {
			o := strings.ToLower(origin)
			pre, suf = strings.ToLower(pre), strings.ToLower(suf)
			// The wildcard stands for one or more DNS labels, not for a
			// scheme or a port: "https://*.example.com" does not match
			// "https://evil.com/.example.com" (no '/' in the middle).
			if len(o) > len(pre)+len(suf) && strings.HasPrefix(o, pre) && strings.HasSuffix(o, suf) {
				mid := o[len(pre) : len(o)-len(suf)]
				if !strings.ContainsAny(mid, "/:@") {
					return true
				}
			}
		}
	}
	return false
}

// admit applies the connection limits to an upgrade request and, when it
// is admitted, takes its slots (released by fireClose).
func (c *Conn) admit() *httpError {
	s := c.loop.srv
	if s.draining.Load() {
		return errDraining
	}
	if !originAllowed(c.loop.hsReq.Header("Origin"), s.cfg.AllowedOrigins) {
		return errOrigin
	}
	// Reserve first, then check: exact under concurrent upgrades on several loops.
	if n := s.openConns.Add(1); s.cfg.MaxConns > 0 && n > int64(s.cfg.MaxConns) {
		s.openConns.Add(-1)
		return errMaxConns
	}
	if s.cfg.MaxConnsPerIP > 0 {
		ip := c.RemoteAddr().Addr()
		if !s.perIP.acquire(ip, s.cfg.MaxConnsPerIP) {
			s.openConns.Add(-1)
			return errMaxConnsPerIP
		}
		c.ipHeld = true
	}
	return nil
}

// releaseSlots gives back what admit took.
func (c *Conn) releaseSlots() {
	c.loop.srv.openConns.Add(-1)
	if c.ipHeld {
		c.ipHeld = false
		c.loop.srv.perIP.release(c.RemoteAddr().Addr())
	}
}
