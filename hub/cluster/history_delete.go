package cluster

import (
	"context"
	"errors"
	"strconv"

	"edgews/hub"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Deleting a message of the shared history (Control.Delete). The stream
// must keep telling every node, in the room's order, that the message is
// gone, and must never hand its offset to another message: a message
// deleted from a subject's end would otherwise make the next one reuse
// its offset (the offset is the subject's last message's plus one). So a
// delete stores a tombstone on the room's subject first, with the
// compare-and-set of any message, carrying the room's last offset (not a
// new one) and the deleted message's offset and epoch:
//
//	NAME.hist.ROOM  headers Edgews-Offset: LAST, -Epoch: EPOCH, -Deleted: OFFSET, -Deleted-Epoch: ITS EPOCH; no data
//
// then removes the message's data from the stream (DeleteMsg). Every node
// consuming the stream meets the tombstone in order and deletes the
// message from its mirror (hub.Hub.DeleteStored); a node replaying the
// stream never sees the message, and its mirror reads the gap as a
// deletion. A tombstone takes one of the room's PerRoom places.

const (
	hdrDeleted      = "Edgews-Deleted"
	hdrDeletedEpoch = "Edgews-Deleted-Epoch"
)

// tombstone is a deletion waiting for the storing goroutine.
type tombstone struct {
	offset uint64
	epoch  string
	done   chan error
}

func (d *tombstone) header(m *nats.Msg) {
	m.Header.Set(hdrDeleted, strconv.FormatUint(d.offset, 10))
	m.Header.Set(hdrDeletedEpoch, d.epoch)
}

// failed tells Delete that d could not be stored, unless it was. Nil d:
// nothing.
func (d *tombstone) failed() {
	if d == nil {
		return
	}
	select {
	case d.done <- errTombstone: // buffered: full if stored() said nil
	default:
	}
}

var errTombstone = errors.New("cluster: history: the deletion could not be stored")

// originReceiver is the hub's side of StoredHere: events of messages said
// on this node are made once they are stored.
type originReceiver interface {
	StoredHere(room string, offset uint64, epoch string, flags hub.MessageFlags, from string, text []byte, ts int64)
}

// deleteReceiver is the hub's side of a tombstone.
type deleteReceiver interface {
	DeleteStored(room string, offset uint64, epoch string)
}

// stored follows a successful store of j at tail.
func (hs *History) stored(j *histJob, tail *roomTail) {
	if d := j.deleted; d != nil {
		d.done <- nil
		return
	}
	hs.stats.Stored.Add(1)
	if o, ok := hs.recv.(originReceiver); ok {
		o.StoredHere(j.room, tail.offset, tail.epoch, j.flags, j.from, j.text, j.ts)
	}
}

// tombstone hands a tombstone delivered from the stream to the hub; false
// if the message is not one.
func (hs *History) tombstone(room string, h nats.Header) bool {
	v := h.Get(hdrDeleted)
	if v == "" {
		return false
	}
	if off, err := strconv.ParseUint(v, 10, 64); err == nil {
		if d, ok := hs.recv.(deleteReceiver); ok {
			d.DeleteStored(room, off, h.Get(hdrDeletedEpoch))
		}
	}
	return true
}

// Delete removes the message at offset from room's history in the stream
// (see the top of this file); hub.ErrNotFound if the stream has no such
// message of the room's current history.
func (hs *History) Delete(ctx context.Context, room string, offset uint64) error {
	subject := hs.prefix + room
	var seq uint64
	var epoch string
	// The room's messages, oldest first: PerRoom at most.
	for next := uint64(1); ; {
		m, err := hs.stream.GetMsg(ctx, next, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return errors.Join(hub.ErrUnavailable, err)
		}
		next = m.Sequence + 1
		if m.Header.Get(hdrDeleted) == "" && m.Header.Get(hdrOffset) == strconv.FormatUint(offset, 10) {
			seq, epoch = m.Sequence, m.Header.Get(hdrEpoch)
		}
	}
	if seq == 0 {
		return hub.ErrNotFound
	}
	d := &tombstone{offset: offset, epoch: epoch, done: make(chan error, 1)}
	select {
	case hs.in <- &histJob{room: room, deleted: d}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-d.done:
		if err != nil {
			return errors.Join(hub.ErrUnavailable, err)
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := hs.stream.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return errors.Join(hub.ErrUnavailable, err)
	}
	return nil
}
