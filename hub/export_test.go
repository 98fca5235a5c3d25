package hub

import "time"

// SetClock replaces the clock of the rate limiter (time since the hub
// started).
func SetClock(h *Hub, now func() time.Duration) { h.clock = now }

// EncodeHistory encodes room's history event as a JSON client entering it
// gets it (the newest Config.History messages) and returns its length.
func EncodeHistory(h *Hub, room string) int {
	f := h.historyFrame(room, resume{}, h.cfg.History)
	n := len(f.Bytes())
	f.refs.Store(1)
	f.release()
	return n
}
