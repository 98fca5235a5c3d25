package hub

import (
	"time"

	"edgews/engine"
)

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

// TrackedTokens is how many authenticated connections loop l's expiry
// sweep walks.
func TrackedTokens(l *engine.Loop) int {
	lr, _ := l.Local.(*loopRooms)
	if lr == nil {
		return 0
	}
	return len(lr.tokens)
}
