package gorillapeer

import (
	"net"
	"testing"

	"go.uber.org/goleak"

	"edgews/bench/peers/internal/conformance"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) { conformance.Run(t, Serve, conformance.Quirks{}) }

func TestCompression(t *testing.T) {
	conformance.RunCompressed(t, func(ln net.Listener) (func(), error) { return ServeWith(ln, Options{Compression: true}) })
}
