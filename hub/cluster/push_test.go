package cluster

import "testing"

// A worker's queue: the users' calls are bounded, and the node's own
// (resync, retry) wait at most once each, however often they are asked
// for while a call hangs (a liveness tick asks for a retry every quarter
// TTL). Calls taken in a batch and not started yet still count.
func TestPushBounds(t *testing.T) {
	n := &Node{}
	n.cfg.RegistryQueue, n.cfg.RegistryQueueBytes = 4*workers, 1<<20
	w := newWorker(n, 0)
	for range 100 {
		w.push(op{kind: opRetry})
		w.push(op{kind: opResync})
	}
	if len(w.queue) != 2 || n.stats.RegistryQueued.Load() != 2 {
		t.Fatalf("after 100 retries and resyncs: %d queued (gauge %d), want one of each", len(w.queue), n.stats.RegistryQueued.Load())
	}
	w.queue = w.queue[:0]
	for i, key := range []string{"a", "b", "c", "d", "e"} {
		ok := w.push(op{kind: opUpdate, key: key, name: key})
		if want := i < 4; ok != want {
			t.Fatalf("update %d: pushed %v, want %v (bound 4 per worker)", i, ok, want)
		}
	}
	// The worker takes the four as a batch (run): until each starts it
	// is held, so the queue takes none more.
	w.queue, w.taken = w.queue[:0], 4
	if w.push(op{kind: opUpdate, key: "f", name: "f"}) {
		t.Fatal("a call pushed while the batch's four wait: the bound did not count them")
	}
	w.taken = 3
	if !w.push(op{kind: opUpdate, key: "f", name: "f"}) {
		t.Fatal("a call refused once one of the batch started")
	}
	if d := n.stats.RegistryDropped.Load(); d != 2 {
		t.Fatalf("RegistryDropped = %d, want 2", d)
	}
}
