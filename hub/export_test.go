package hub

import "time"

// SetClock replaces the clock of the rate limiter (time since the hub
// started).
func SetClock(h *Hub, now func() time.Duration) { h.clock = now }
