package hub

import "edgews/codec"

// limiter is a per-connection token bucket in its GCRA form ("virtual
// scheduling", as in RFC 2697's relatives and redis-cell): one timestamp,
// the theoretical arrival time of the next message, instead of a token
// count and a refill time. Why: one int64 per member, no float, no timer,
// and one comparison per message.
type limiter struct {
	tat int64 // nanoseconds on the hub's clock; 0: bucket full
}

// allow reports whether a message arriving at now conforms: at most
// burst = tolerance/interval + 1 messages at once, then one per interval.
// A refused message does not consume anything. Loop only.
func (l *limiter) allow(now, interval, tolerance int64) bool {
	tat := max(l.tat, now)
	if tat-now > tolerance {
		return false
	}
	l.tat = tat + interval
	return true
}

// admit applies the rate limit to a message from m. Over the limit it
// counts a strike and sends an error line; MaxStrikes strikes in a row
// close the connection with 1008. Loop only.
func (h *Hub) admit(m *Member) bool {
	if h.interval == 0 {
		return true
	}
	if m.lim.allow(int64(h.clock()), h.interval, h.tolerance) {
		m.strikes = 0
		return true
	}
	h.stats.RateLimited.Add(1)
	m.strikes++
	if int(m.strikes) >= h.cfg.MaxStrikes {
		m.kicked = true
		h.stats.RateKicks.Add(1)
		h.cfg.Logger.Debug("hub: closing a flooding connection", "name", m.name, "remote", m.c.RemoteAddr().String(), "strikes", m.strikes)
		// Posted, not closed here, so that the error lines posted before
		// it are written first.
		_ = m.c.Loop().Post(&closeTask{c: m.c, code: codec.StatusPolicyViolation, reason: "rate limit exceeded"})
		return false
	}
	h.replyError(m, errRateLimited, "too many messages (limit "+h.rateText+"); message dropped")
	return false
}
