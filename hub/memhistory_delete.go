package hub

// HistoryDeleter is a History that can remove a message (MemoryHistory
// is one): what Control.Delete needs. A History without it keeps every
// message until its caps drop it.
type HistoryDeleter interface {
	// DeleteFunc removes the oldest message of room for which match
	// reports true, and returns its offset. The message passed to match
	// is valid during the call only. Offsets are not reused: the next
	// message still gets the next offset, and the room's offsets have a
	// gap where the message was.
	DeleteFunc(room string, match func(*HistoryMessage) bool) (offset uint64, ok bool)
}

var _ HistoryDeleter = (*MemoryHistory)(nil)

// DeleteFunc implements HistoryDeleter.
func (s *MemoryHistory) DeleteFunc(room string, match func(*HistoryMessage) bool) (uint64, bool) {
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now)
	r := s.rooms[room]
	if r == nil {
		return 0, false
	}
	m := HistoryMessage{Epoch: r.epoch}
	var prev *memEntry
	for e := r.head; e != nil; prev, e = e, e.rnext {
		m.Offset, m.Me, m.Verified, m.TS = e.off, e.flags&MessageMe != 0, e.flags&MessageVerified != 0, e.ts
		m.From, m.Text = e.buf[:e.from], e.buf[e.from:]
		if !match(&m) {
			continue
		}
		if prev == nil {
			r.head = e.rnext
		} else {
			prev.rnext = e.rnext
		}
		if r.tail == e {
			r.tail = prev
		}
		off := e.off
		s.unlinkLocked(e)
		return off, true
	}
	return 0, false
}
