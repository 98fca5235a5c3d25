package bench_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"edgews/bench"
	"edgews/bench/compare"
	"edgews/engine"
	"edgews/engine/enginetest"
	"edgews/hub"
	"go.uber.org/goleak"
)

// TestMain lets the test binary serve as its own worker process for the
// --procs tests: Run re-executes os.Executable() with WSBENCH_WORKER=1.
func TestMain(m *testing.M) {
	if bench.IsWorker() {
		os.Exit(bench.WorkerMain())
	}
	if os.Getenv(agentEnv) != "" { // an agent process of the agent tests
		os.Exit(agentMain())
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if code == 0 {
		// Every run, proxy and node of the tests has stopped by now.
		var opts []goleak.Option
		for _, f := range engine.ProcessGoroutines() {
			opts = append(opts, goleak.IgnoreTopFunction(f))
		}
		if err := goleak.Find(opts...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// binDir holds the node binary built by startBuiltNode; empty until then.
var (
	binDir   string
	binOnce  sync.Once
	binError error
)

// startBuiltNode builds cmd/wsnode (once per test binary, without -race:
// the node is measured, not tested, here) and runs it on a free loopback
// port with flags until the test ends.
func startBuiltNode(t testing.TB, flags ...string) *compare.Node {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binError = os.MkdirTemp("", "bench-test"); binError != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, "wsnode"), "edgews/cmd/wsnode").CombinedOutput()
		if err != nil {
			binError = fmt.Errorf("go build wsnode: %v\n%s", err, out)
		}
	})
	if binError != nil {
		t.Fatal(binError)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := compare.StartNode(ctx, binDir, append([]string{"--loops", "2"}, flags...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	return n
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
