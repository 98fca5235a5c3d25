package engine

import (
	"runtime"
	"runtime/debug"
	"time"
)

// After an eviction (or message timeouts, or slow consumers closed) the
// closed connections' buffers are garbage, or sit in gnet's sync.Pools (its
// ring and byte-slice pools), and the Go runtime hands free pages back to
// the OS only gradually (the background scavenger). One goroutine per
// server, not on any loop, hurries that along once the connections the
// node closed held an eighth of the budget: a GC to move the pools'
// contents to their victim caches, then debug.FreeOSMemory, whose GC frees
// them and which returns the free pages at once. It runs at most once per
// releaseInterval, so an attack evicted over and over costs a bounded share
// of a core. Only with a MemoryBudget.
const (
	// releaseDelay lets the loops finish closing the evicted connections
	// (gnet closes them after the event that evicted them) first.
	releaseDelay = 100 * time.Millisecond
	// releaseInterval is the least time between two releases.
	releaseInterval = time.Second
	// releaseTrail is when the trailing release follows the last one.
	releaseTrail = 2 * time.Second
)

// releaseMemory asks for a release if the connections the node closed
// itself since the last one (evictions, message timeouts, slow consumers)
// held at least an eighth of the budget. Any goroutine; never blocks.
func (s *Server) releaseMemory() {
	if s.release == nil || s.freed.Load() < s.cfg.MemoryBudget/8 {
		return
	}
	select {
	case s.release <- struct{}{}:
	default: // one is already pending
	}
}

// releaser runs until stop is closed. After each release prompted by
// closes it makes one more, releaseTrail later: connections left open by
// an attack may still have been growing their buffers (garbage that no GC
// collects while the node allocates nothing) when the closes stopped.
func (s *Server) releaser(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	trail := time.NewTimer(time.Hour)
	trail.Stop()
	defer trail.Stop()
	for {
		select {
		case <-stop:
			return
		case <-s.release:
			trail.Stop()
			if !sleep(stop, releaseDelay) {
				return
			}
			trail.Reset(releaseTrail)
		case <-trail.C:
		}
		s.freed.Store(0)
		runtime.GC()
		debug.FreeOSMemory()
		s.stats.releases.Add(1)
		if !sleep(stop, releaseInterval) {
			return
		}
	}
}

// sleep waits d, or until stop is closed (then it reports false).
func sleep(stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-stop:
		return false
	case <-t.C:
		return true
	}
}
