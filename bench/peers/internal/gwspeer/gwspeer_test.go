package gwspeer

import (
	"net"
	"testing"

	"go.uber.org/goleak"

	"edgews/bench/peers/internal/conformance"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	conformance.Run(t, func(ln net.Listener) (func(), error) { return Serve(ln, Options{}) }, conformance.Quirks{NoOutboundLimit: true})
}

// TestConformanceParallel runs the suite with ParallelEnabled, which gws
// documents as handling one connection's messages concurrently.
func TestConformanceParallel(t *testing.T) {
	conformance.Run(t, func(ln net.Listener) (func(), error) { return Serve(ln, Options{Parallel: true}) },
		conformance.Quirks{Unordered: true, NoOutboundLimit: true})
}

func TestCompression(t *testing.T) {
	conformance.RunCompressed(t, func(ln net.Listener) (func(), error) { return Serve(ln, Options{Compression: true}) })
}
