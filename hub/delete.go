package hub

import (
	"math"
)

// DeleteSpec identifies a message to delete on every node of a cluster:
// by Offset where the room's history has epoch Epoch (the node keeps the
// same history: a cluster's shared one), else by its sender, time and
// text (each node numbers the messages it keeps its own way).
type DeleteSpec struct {
	Room   string `json:"room"`
	Offset uint64 `json:"offset"`
	Epoch  string `json:"epoch"`
	From   string `json:"from"`
	TS     int64  `json:"ts"`
	Text   string `json:"text"`
}

// FindMessage reads the message at offset in room's history on this node.
func (h *Hub) FindMessage(room string, offset uint64) (DeleteSpec, bool) {
	var spec DeleteSpec
	found := false
	if h.hist == nil {
		return spec, false
	}
	h.hist.Read(room, 0, "", false, math.MaxInt, func(hm *HistoryMessage) {
		if hm.Offset == offset {
			spec = DeleteSpec{Room: room, Offset: offset, Epoch: hm.Epoch, From: string(hm.From), TS: hm.TS, Text: string(hm.Text)}
			found = true
		}
	})
	return spec, found
}

// DeleteLocal removes the message of spec from this node's history and
// tells the room's JSON members here, in the room's order (a member
// entering meanwhile either never sees the message in its history, or
// sees it and then the deleted event):
//
//	{"type":"deleted","room":"games","offset":42,"epoch":"9f2c41d0-3"}
//
// It reports whether the history had the message.
func (h *Hub) DeleteLocal(spec DeleteSpec) bool {
	del, ok := h.hist.(HistoryDeleter)
	if !ok {
		return false
	}
	found := false
	h.inOrder(spec.Room, func(ri *roomInfo) {
		var epoch string
		off, ok := del.DeleteFunc(spec.Room, func(hm *HistoryMessage) bool {
			epoch = hm.Epoch
			if hm.Epoch == spec.Epoch {
				return hm.Offset == spec.Offset
			}
			return hm.TS == spec.TS && string(hm.From) == spec.From && string(hm.Text) == spec.Text
		})
		if !ok {
			return
		}
		found = true
		if ri != nil && ri.json.Load() > 0 {
			ev := event{typ: evDeleted, room: spec.Room, offset: off, epoch: epoch}
			h.broadcast(spec.Room, nil, ev.frame(true), nil)
		}
	})
	return found
}

// DeleteStored is called by a Sequencer when a message of the cluster's
// history was deleted (on whichever node): it goes from this node's
// mirror and its JSON members are told.
func (h *Hub) DeleteStored(room string, offset uint64, epoch string) {
	h.DeleteLocal(DeleteSpec{Room: room, Offset: offset, Epoch: epoch})
}
