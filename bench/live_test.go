package bench

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// A second's histogram sent as its non-zero buckets adds up exactly: the
// coordinator's running histogram is the workers' merged.
func TestHistDeltaExact(t *testing.T) {
	a, b, sum := newHist(), newHist(), newHist()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		recordNanos(a, int64(rng.ExpFloat64()*2e6))
		recordNanos(b, int64(rng.ExpFloat64()*5e8))
	}
	deltaOf(a).addTo(sum)
	var wire histDelta // as a progress line carries it
	if js, err := json.Marshal(deltaOf(b)); err != nil || json.Unmarshal(js, &wire) != nil {
		t.Fatalf("JSON: %v", err)
	}
	wire.addTo(sum)
	want := newHist()
	want.Merge(a)
	want.Merge(b)
	if !sum.Equals(want) {
		t.Fatalf("sum n=%d p99=%d max=%d, merged n=%d p99=%d max=%d", sum.TotalCount(), sum.ValueAtQuantile(99), sum.Max(),
			want.TotalCount(), want.ValueAtQuantile(99), want.Max())
	}
	if deltaOf(newHist()) != nil {
		t.Error("an empty histogram's delta is not empty")
	}
	d := deltaOf(a)
	if allocs := testing.AllocsPerRun(10, func() { d.addTo(sum) }); allocs != 0 {
		t.Errorf("%v allocations to add a delta", allocs)
	}
}

// Prometheus's buckets count each value in the first bound at or above it.
func TestPromHist(t *testing.T) {
	var p promHist
	p.add(histDelta{50, 3, 100, 1, 2000, 2, 100_000_000, 1}) // µs: 3 at 50, 1 at 100, 2 at 2 ms, 1 at 100 s
	if p.counts[0] != 4 || p.counts[4] != 2 || p.n != 7 || p.sum < 100.00424 || p.sum > 100.00426 {
		t.Fatalf("counts %v n %d sum %v", p.counts, p.n, p.sum)
	}
}
