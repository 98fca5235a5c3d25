package gorillapeer

import (
	"testing"

	"go.uber.org/goleak"

	"edgews/bench/peers/internal/conformance"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) { conformance.Run(t, Serve, conformance.Quirks{}) }
