package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func sampleReport(t *testing.T) *Report {
	t.Helper()
	cfg, err := Config{Scenario: Echo, URL: "ws://127.0.0.1:8080", Conns: 2, Duration: 2e9}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	h, c := newHist(), newHist()
	for i := int64(1); i <= 1000; i++ {
		_ = h.RecordValue(i * 10)
		_ = c.RecordValue(i)
	}
	m := &workerResult{Connected: 2, OpenAtStart: 2, msgCounts: msgCounts{Sent: 1000, Received: 1000, EchoFirst: 1000, Bytes: 64000},
		LatencyHDR: encodeHist(h), ConnectHDR: encodeHist(c),
		Series: []Second{{T: 0, Conns: 2}, {T: 1, Conns: 2, Sent: 500, Received: 500, P99Us: 9900}, {T: 2, Conns: 2, Sent: 500, Received: 500, P99Us: 9800}}}
	rep := newReport(&cfg)
	fillReport(rep, &cfg, m, serverSnap{}, serverSnap{}, serverSnap{}, 0, 0)
	return rep
}

func TestReportJSONSchema(t *testing.T) {
	rep := sampleReport(t)
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"schema", "scenario", "url", "params", "conns", "messages", "latency", "series"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	var r2 Report
	if err := json.Unmarshal(b, &r2); err != nil || r2.Schema != SchemaVersion || r2.Messages.Received != 1000 || r2.Latency.P99Us == 0 {
		t.Fatalf("round trip: %v %+v", err, r2)
	}
	// The histogram travels whole: another run can merge it.
	h, err := decodeHist(r2.Latency.HDR)
	if err != nil || h.TotalCount() != 1000 {
		t.Fatalf("hdr: %v n=%d", err, h.TotalCount())
	}
}

func TestReportText(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport(t).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"wsbench echo", "ws://127.0.0.1:8080/echo", "round trip", "p99.9", "500 replies/s", "lost 0"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, b.String())
		}
	}
}

// The HTML report must open offline: echarts inlined, no external script.
func TestReportHTMLSelfContained(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport(t).WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "<script src=") || strings.Contains(out, "go-echarts.github.io") || strings.Contains(out, "<link href=") {
		t.Fatal("HTML report references an external asset")
	}
	if !strings.Contains(out, echartsJS[:200]) || len(out) < len(echartsJS) {
		t.Fatal("echarts is not inlined")
	}
	for _, want := range []string{"Round-trip latency", "Throughput per second", "Open connections", "echarts.init(", "<pre"} {
		if !strings.Contains(out, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
}

func TestFormatting(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{count(1234567), "1,234,567"}, {count(-1000), "-1,000"}, {count(12), "12"},
		{usec(850), "850µs"}, {usec(1500), "1.50ms"}, {usec(2_500_000), "2.50s"},
		{size(512), "512 B"}, {size(2048), "2.0 KiB"}, {size(3 << 20), "3.0 MiB"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
