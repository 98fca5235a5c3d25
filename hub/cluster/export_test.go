package cluster

import (
	"context"
	"errors"
)

// Subscribed reports whether the server knows this node's interest in
// room.
func (n *Node) Subscribed(room string) bool {
	n.subMu.Lock()
	defer n.subMu.Unlock()
	return n.subscribed[room]
}

// Idle waits until every registry worker's queue is empty. Tests that
// then call a worker directly (CreateEntry, WriteEntry) must keep the
// node from queueing more: a TTL long enough that no retry comes.
func (n *Node) Idle(ctx context.Context) error {
	for _, w := range n.reg {
		if err := w.wait(ctx); err != nil {
			return err
		}
	}
	return nil
}

// CreateEntry runs key's worker's create (create.go) in the caller's
// goroutine.
func (n *Node) CreateEntry(key, val string) error {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.OpTimeout)
	defer cancel()
	return n.worker(key).create(ctx, n.kv.Load(), key, []byte(val))
}

// WriteEntry runs key's worker's write (a claim's registry calls) in the
// caller's goroutine.
func (n *Node) WriteEntry(key, name, room string) (bool, error) {
	ok, _, err := n.worker(key).write(n.kv.Load(), key, name, room)
	return ok, err
}

// NamesEntry is key's names value, or "" if there is none.
func (n *Node) NamesEntry(key string) string {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.OpTimeout)
	defer cancel()
	e, err := n.kv.Load().names.Get(ctx, key)
	if err != nil {
		return ""
	}
	return string(e.Value())
}

// DeleteEntry deletes key's names entry (leaving a delete marker).
func (n *Node) DeleteEntry(key string) error {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.OpTimeout)
	defer cancel()
	return n.kv.Load().names.Delete(ctx, key)
}

// IsLastSeq reports whether err is create's refusal of a key that has a
// last sequence.
func IsLastSeq(err error) bool { return errors.Is(err, errLastSeq) }
