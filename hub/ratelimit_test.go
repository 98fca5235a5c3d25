package hub

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	const ms = int64(time.Millisecond)
	// 10 messages per second (one per 100ms), burst 3: tolerance 200ms.
	const interval, tolerance = 100 * ms, 200 * ms
	tests := []struct {
		name string
		at   []int64 // arrival times, ms
		want []bool
	}{
		{"burst then refuse", []int64{0, 0, 0, 0}, []bool{true, true, true, false}},
		{"steady at rate", []int64{0, 100, 200, 300, 400}, []bool{true, true, true, true, true}},
		{"refill one", []int64{0, 0, 0, 0, 100, 100}, []bool{true, true, true, false, true, false}},
		{"idle refills burst only", []int64{0, 10000, 10000, 10000, 10000}, []bool{true, true, true, true, false}},
		{"refused costs nothing", []int64{0, 0, 0, 50, 50, 50, 100}, []bool{true, true, true, false, false, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l limiter
			for i, at := range tt.at {
				if got := l.allow(1000*ms+at*ms, interval, tolerance); got != tt.want[i] {
					t.Fatalf("message %d at %dms: allow = %v, want %v", i, at, got, tt.want[i])
				}
			}
		})
	}
}
