package bench_test

import (
	"context"
	"os"
	"testing"
	"time"

	"edgews/bench"
	"edgews/engine"
	"edgews/engine/enginetest"
	"edgews/hub"
)

// TestMain lets the test binary serve as its own worker process for the
// --procs tests: Run re-executes os.Executable() with WSBENCH_WORKER=1.
func TestMain(m *testing.M) {
	if bench.IsWorker() {
		os.Exit(bench.WorkerMain())
	}
	os.Exit(m.Run())
}

// startNode runs the real node (engine + hub) on 127.0.0.1:0 with 2 loops
// until the test ends, and returns its ws:// URL without a path.
func startNode(t testing.TB) string { return startNodeWith(t, engine.Config{}, hub.Config{}) }

// startNodeWith is startNode with engine and hub settings (Addr and Loops
// are set).
func startNodeWith(t testing.TB, cfg engine.Config, hcfg hub.Config) string {
	t.Helper()
	return "ws://" + startServer(t, cfg, hcfg).Addr().String()
}

// startServer is startNodeWith returning the server, for its Stats.
func startServer(t testing.TB, cfg engine.Config, hcfg hub.Config) *engine.Server {
	t.Helper()
	cfg.Addr, cfg.Loops = "127.0.0.1:0", 2
	srv := engine.New(cfg)
	hub.New(srv, hcfg)
	enginetest.Start(t, srv)
	return srv
}

// run runs cfg with a bound on the whole run and fails the test on error.
func run(t testing.TB, cfg bench.Config) *bench.Report {
	t.Helper()
	rep, err := runErr(t, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

func runErr(t testing.TB, cfg bench.Config) (*bench.Report, error) {
	t.Helper()
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	cfg.Logf = t.Logf
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return bench.Run(ctx, cfg)
}

func selfPID() int { return os.Getpid() }
