//go:build !race

package nbiopeer

import (
	"net"
	"testing"

	"github.com/lesismal/nbio/logging"
	"go.uber.org/goleak"

	"edgews/bench/peers/internal/conformance"
)

func TestMain(m *testing.M) {
	logging.SetLevel(logging.LevelWarn) // keep nbio's start/stop lines out of test output
	// websocket.DefaultEngine is built at package init and starts two
	// task-pool goroutines that live for the process; ignore only what
	// exists before the tests, so the engines Serve starts must stop.
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent())
}

// TestConformance runs the suite in-process. (Under -race see
// nbiopeer_race_test.go.)
func TestConformance(t *testing.T) {
	conformance.Run(t, Serve, quirks)
}

func TestCompression(t *testing.T) {
	conformance.RunCompressed(t, func(ln net.Listener) (func(), error) { return ServeWith(ln, Options{Compression: true}) })
}
