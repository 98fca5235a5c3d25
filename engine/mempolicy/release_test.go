package mempolicy

import (
	"runtime"
	"testing"
	"time"
)

// A release follows a wave once the count holds still: a connect wave,
// then a disconnect wave; churn, small waves and a wave still moving do
// not release.
func TestReleaserWaves(t *testing.T) {
	released := 0
	r := &Releaser{Release: func() { released++ }, MinWave: 1000, MinInterval: 10 * time.Second}
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at   time.Duration
		n    int64
		want bool
		why  string
	}{
		{1 * time.Second, 500, false, "below MinWave"},
		{2 * time.Second, 5000, false, "moving"},
		{3 * time.Second, 15000, false, "moving"},
		{4 * time.Second, 15050, true, "connect wave over (moved < 1%)"},
		{5 * time.Second, 15050, false, "released already"},
		{20 * time.Second, 14100, false, "moved 950: below MinWave"},
		{21 * time.Second, 14100, false, "still below MinWave"},
		{22 * time.Second, 9000, false, "moving"},
		{23 * time.Second, 0, false, "moving"},
		{24 * time.Second, 0, true, "disconnect wave over"},
		{25 * time.Second, 3000, false, "moving"},
		{26 * time.Second, 3000, false, "within MinInterval of the last release"},
		{35 * time.Second, 3000, true, "MinInterval passed"},
		{60 * time.Second, 33000, false, "moving"},
		{61 * time.Second, 33100, true, "quiet again"},
		{80 * time.Second, 35000, false, "moved 1900: less than a tenth of 35,000"},
		{81 * time.Second, 35000, false, "same"},
	}
	for _, s := range steps {
		before := released
		got := r.step(t0.Add(s.at), s.n)
		if got != s.want || released-before != map[bool]int{true: 1}[s.want] {
			t.Fatalf("at %v with %d open: released %v, want %v (%s)", s.at, s.n, got, s.want, s.why)
		}
	}
	if r.Releases() != 4 {
		t.Fatalf("Releases() = %d, want 4", r.Releases())
	}
}

// The default Release is debug.FreeOSMemory: freed heap goes back to the
// system.
func TestReleaserReturnsMemory(t *testing.T) {
	r := &Releaser{MinWave: 1}
	garbage := make([][]byte, 0, 64)
	for range 64 {
		garbage = append(garbage, make([]byte, 1<<20))
	}
	runtime.KeepAlive(garbage)
	garbage = nil
	runtime.GC()
	before := heapReleased()
	r.step(time.Now(), 100) // a wave of 100 from 0...
	r.step(time.Now(), 100) // ... that holds still
	if r.Releases() != 1 {
		t.Fatal("no release")
	}
	if got := heapReleased() - before; got < 32<<20 {
		t.Fatalf("returned %d bytes to the system after dropping 64 MiB, want at least 32 MiB", got)
	}
}
