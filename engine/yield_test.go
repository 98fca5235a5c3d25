package engine

import (
	"testing"
	"time"
)

// A busy loop passes through the Go scheduler once per yieldPeriod of its
// own clock, at the end of an event, and not more often (see Loop.yield).
func TestLoopYieldsWhileBusy(t *testing.T) {
	n := 0
	defer func(g func()) { gosched = g }(gosched)
	gosched = func() { n++ }

	l := &Loop{srv: New(Config{})}
	for now := int64(1); now <= int64(20*time.Millisecond); now += int64(100 * time.Microsecond) {
		l.now = now
		l.yield()
	}
	if want := int(20 * time.Millisecond / yieldPeriod); n < want-1 || n > want {
		t.Fatalf("%d yields in 20 ms of events 0.1 ms apart, want %d (one per %v)", n, want, yieldPeriod)
	}

	// end() yields: the first event does, one right after it does not,
	// one after a period does again.
	n = 0
	l = &Loop{srv: New(Config{})}
	event := func() { l.begin(); l.end() }
	event()
	event()
	if n != 1 {
		t.Fatalf("%d yields after two events in a row, want 1", n)
	}
	time.Sleep(yieldPeriod + time.Millisecond)
	event()
	if n != 2 {
		t.Fatalf("%d yields after an event %v later, want 2", n, yieldPeriod+time.Millisecond)
	}
}
