package hub

import "unsafe"

// Sequencer orders and keeps the rooms' messages for all the nodes of a
// cluster (hub/cluster implements it with a JetStream stream), so that
// offsets and epochs are the same on every node, a client resumes on any
// node, and history outlives a node's restart.
//
// With one (Config.Sequencer, and Config.History set), a message said on
// this node is not delivered at once: Sequence hands it over, and it comes
// back to every node, this one included, through ReceiveStored, with its
// offset and epoch, in the room's order. Each node keeps the last messages
// of every room in its own MemoryHistory (a mirror of the stream, filled
// by ReceiveStored), from which entering members get their history with
// the same exact boundary as on a single node (see recall.go).
type Sequencer interface {
	// Attach is called once by New, before any other method, with the hub
	// that receives the stored messages.
	Attach(r StoredReceiver)
	// Sequence sends a message said in room to be given its offset and
	// stored. It copies from and text and never waits: the network work
	// happens on the implementation's goroutines. A message that cannot
	// be stored is dropped (and counted by the implementation). flags
	// come back with it (ReceiveStored).
	Sequence(room string, flags MessageFlags, from string, text []byte, ts int64)
}

// StoredReceiver is what a Sequencer calls: *Hub implements it.
type StoredReceiver interface {
	// ReceiveStored delivers a stored message to the node: into its
	// history mirror and to the room's members here. Calls come from one
	// goroutine at a time, in the order of the room's offsets. from and
	// text are valid during the call only. It reports false if an event
	// loop was too far behind to take the message (Config.ClusterBacklog):
	// it is in the mirror, but its members there did not get it live.
	ReceiveStored(room string, offset uint64, epoch string, flags MessageFlags, from, text []byte, ts int64) bool
}

// ReceiveStored implements StoredReceiver. The mirror is written and the
// message posted in the room's order (inOrder), as sayStored does on a
// single node; a room without members here only gets its mirror updated.
// false: a loop here was behind and dropped the message (fanout's limit).
func (h *Hub) ReceiveStored(room string, offset uint64, epoch string, flags MessageFlags, from, text []byte, ts int64) bool {
	mirror, _ := h.hist.(*MemoryHistory)
	if mirror == nil {
		return true // no history configured: New ignored the sequencer
	}
	// The name is read only while storing and encoding, during this call.
	name := unsafe.String(unsafe.SliceData(from), len(from))
	ok := true
	h.inOrder(room, func(ri *roomInfo) {
		mirror.Put(room, offset, epoch, flags, name, text, ts)
		if ri == nil {
			return
		}
		typ := evMessage
		switch {
		case flags&MessageMe != 0:
			typ = evMe
		case name == "": // a notice (Control.Publish)
			typ = evNotice
		}
		if text == nil {
			text = []byte{}
		}
		ev := event{typ: typ, room: room, from: name, text: text, ts: ts, offset: offset, epoch: epoch, verified: flags&MessageVerified != 0}
		tf, jf := ev.frames(ri)
		ok = h.fanout(room, tf, jf, nil, h.cfg.ClusterBacklog)
	})
	return ok
}

// inOrder runs f in room's order: holding the room's order lock if it has
// members here (ri), else (ri nil) under its registry shard's lock, so
// that a member entering the room meanwhile either finds in its history
// what f stores or is sent what f broadcasts: never neither, never both.
func (h *Hub) inOrder(room string, f func(ri *roomInfo)) {
	s := h.roomShard(room)
	for {
		s.mu.Lock()
		ri := s.rooms[room]
		if ri == nil {
			f(nil)
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		ri.order.Lock()
		s.mu.Lock()
		current := s.rooms[room] == ri
		s.mu.Unlock()
		if !current { // emptied and replaced meanwhile: take the new one
			ri.order.Unlock()
			continue
		}
		f(ri)
		ri.order.Unlock()
		return
	}
}
