//go:build !race

package webhook_test

import (
	"testing"
	"time"

	"edgews/hub/webhook"
)

// Queueing an event allocates nothing while its batch has room: the hub's
// loops hand events over with one copy.
func TestSinkEventAllocs(t *testing.T) {
	s := newSink(t, "http://127.0.0.1:1/", webhook.Config{Batch: 1 << 20, Flush: time.Hour, Queue: 64 << 20})
	ev := event(1)
	s.Event("message", "lobby", ev)
	allocs := testing.AllocsPerRun(5000, func() { s.Event("message", "lobby", ev) })
	if allocs != 0 {
		t.Fatalf("Event: %v allocs, want 0", allocs)
	}
}
