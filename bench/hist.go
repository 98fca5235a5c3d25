package bench

import (
	"fmt"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Histograms record microseconds from 1 µs to 60 s with 3 significant
// digits (0.1% error), the HdrHistogram default for latency. Every histogram
// in a run has the same range, so workers' histograms merge exactly.
const (
	histMinUs = 1
	histMaxUs = 60_000_000
	histSig   = 3
)

func newHist() *hdr.Histogram { return hdr.New(histMinUs, histMaxUs, histSig) }

// recordNanos records a duration given in nanoseconds, clamped to the
// histogram's range (a negative value comes from clocks of two processes
// that disagree: loop.record counts those). RecordValue does not allocate.
func recordNanos(h *hdr.Histogram, d int64) {
	us := d / 1000
	if us < histMinUs {
		us = histMinUs
	} else if us > histMaxUs {
		us = histMaxUs
	}
	_ = h.RecordValue(us)
}

// encodeHist returns h in the HdrHistogram V2 compressed format, base64:
// the form workers send and the report carries, readable by every
// HdrHistogram implementation.
func encodeHist(h *hdr.Histogram) string {
	if h == nil || h.TotalCount() == 0 {
		return ""
	}
	b, err := h.Encode(hdr.V2CompressedEncodingCookieBase)
	if err != nil {
		return ""
	}
	return string(b)
}

// decodeHist reverses encodeHist; "" is an empty histogram.
func decodeHist(s string) (*hdr.Histogram, error) {
	if s == "" {
		return newHist(), nil
	}
	h, err := hdr.Decode([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("bench: decode histogram: %w", err)
	}
	return h, nil
}

// mergeHists merges encoded histograms into one. Merging adds the counts
// bucket by bucket, so the percentiles of the result are the percentiles of
// all the samples: unlike averaging the workers' percentiles.
func mergeHists(encoded ...string) (*hdr.Histogram, error) {
	out := newHist()
	for _, s := range encoded {
		h, err := decodeHist(s)
		if err != nil {
			return nil, err
		}
		out.Merge(h)
	}
	return out, nil
}

// plotPercentiles are the points of the latency percentile plot.
var plotPercentiles = []float64{0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95, 97.5, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100}

// latencyOf summarizes h (in µs). Nil for an empty histogram.
func latencyOf(h *hdr.Histogram) *Latency {
	if h == nil || h.TotalCount() == 0 {
		return nil
	}
	l := &Latency{
		Count:  h.TotalCount(),
		MinUs:  float64(h.Min()),
		MeanUs: h.Mean(),
		P50Us:  float64(h.ValueAtQuantile(50)),
		P90Us:  float64(h.ValueAtQuantile(90)),
		P99Us:  float64(h.ValueAtQuantile(99)),
		P999Us: float64(h.ValueAtQuantile(99.9)),
		MaxUs:  float64(h.Max()),
		HDR:    encodeHist(h),
	}
	for _, p := range plotPercentiles {
		v := float64(h.ValueAtQuantile(p))
		if p == 0 {
			v = l.MinUs // ValueAtQuantile(0) is 0, not the smallest sample
		}
		l.Percentiles = append(l.Percentiles, Percentile{P: p, Us: v})
	}
	return l
}

// correctedHist returns h corrected for coordinated omission with the
// expected interval between samples (µs): every value v also records
// v - interval, v - 2·interval, ... down to the interval, which is what
// RecordCorrectedValue does sample by sample (and Java HdrHistogram's
// copyCorrectedForCoordinatedOmission histogram by histogram): in a closed
// loop, a stall of v holds back the v/interval requests that would have
// been sent meanwhile, and each of those would have waited the rest of it.
// Done once on the merged histogram, each bucket with its count.
func correctedHist(h *hdr.Histogram, interval int64) *hdr.Histogram {
	out := newHist()
	for _, b := range h.Distribution() {
		if b.Count == 0 {
			continue
		}
		v := b.To // the bucket's value, as HdrHistogram's own iterators give it
		_ = out.RecordValues(v, b.Count)
		if interval <= 0 {
			continue
		}
		for missing := v - interval; missing >= interval; missing -= interval {
			_ = out.RecordValues(missing, b.Count)
		}
	}
	return out
}
