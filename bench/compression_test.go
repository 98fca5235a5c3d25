package bench_test

import (
	"testing"
	"time"

	"edgews/bench"
	"edgews/engine"
	"edgews/hub"
)

// TestCompressionRun: with Compression, the bench offers permessage-deflate,
// inflates what the node sends compressed, counts every message, and
// reports wire bytes well under the payload bytes for chat-like JSON; with
// a node that declines, the run still works and the wire carries the
// payload plus headers.
func TestCompressionRun(t *testing.T) {
	on := startNodeWith(t, engine.Config{Compression: true}, hub.Config{})
	off := startNode(t)
	for _, tc := range []struct {
		name     string
		url      string
		scenario bench.Scenario
		zipped   bool
	}{
		{"echo compressed", on, bench.Echo, true},
		{"broadcast compressed", on, bench.Broadcast, true},
		{"broadcast declined", off, bench.Broadcast, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := run(t, bench.Config{Scenario: tc.scenario, URL: tc.url, Conns: 10, Senders: 2, Rate: 40,
				Payload: 1024, Duration: time.Second, Compression: true})
			m := rep.Messages
			if m.Received == 0 || m.Lost != 0 || m.Extra != 0 || rep.Conns.Failed != 0 {
				t.Fatalf("messages %+v, conns %+v", m, rep.Conns)
			}
			if m.PayloadBytesPerMsg < 1024 {
				t.Fatalf("payload %.0f bytes per message, want >= 1024 (inflated)", m.PayloadBytesPerMsg)
			}
			ratio := m.WireBytesPerMsg / m.PayloadBytesPerMsg
			if tc.zipped && ratio > 0.6 {
				t.Fatalf("wire %.0f of payload %.0f bytes per message: not compressed", m.WireBytesPerMsg, m.PayloadBytesPerMsg)
			}
			if !tc.zipped && ratio < 1 {
				t.Fatalf("wire %.0f under payload %.0f bytes per message without compression", m.WireBytesPerMsg, m.PayloadBytesPerMsg)
			}
		})
	}
}
