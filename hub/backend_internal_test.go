package hub

import "testing"

// The connection clock tells when a connection opened to the second, and
// once it has more seconds than it keeps, the older ones read earlier,
// never later, than they were.
func TestConnClock(t *testing.T) {
	var c connClock
	since := func(id uint64) int64 {
		var s int64
		c.sinceAll([]uint64{id}, func(_ int, sec int64) { s = sec })
		return s
	}
	if since(5) != 0 {
		t.Fatal("a time before any mark")
	}
	// Connection ids 10k..10k+9 open in second 1000+k.
	const seconds = 3 * maxClockMarks
	for k := range uint64(seconds) {
		for j := range uint64(10) {
			c.opened(10*k+j, int64(1000+k))
		}
	}
	if len(c.ids) > maxClockMarks {
		t.Fatalf("%d marks kept, at most %d", len(c.ids), maxClockMarks)
	}
	for k := uint64(0); k < seconds; k += 7 {
		got, want := since(10*k+3), int64(1000+k)
		if got > want {
			t.Fatalf("connection %d: opened at %d, read %d (later)", 10*k+3, want, got)
		}
		if k >= seconds-maxClockMarks/2 && got != want {
			t.Fatalf("connection %d of the newest seconds: read %d, want %d", 10*k+3, got, want)
		}
	}
	// An upgrade that finishes late (a smaller id after a larger one)
	// does not break the order.
	c.opened(5, 1000+seconds)
	if since(10*(seconds-1)) != 1000+seconds-1 {
		t.Fatal("a late upgrade moved an earlier second")
	}
}
