// Package enginetest runs engine servers in tests, as net/http/httptest
// does for net/http:
//
//	srv := engine.New(engine.Config{Addr: "127.0.0.1:0"})
//	srv.Handle("/echo", h)
//	enginetest.Start(t, srv) // stopped, and checked, when the test ends
//	url := "ws://" + srv.Addr().String() + "/echo"
package enginetest

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"edgews/engine"
)

// Start starts srv and shuts it down when the test ends, failing the test
// if the drain fails or Run does not end with engine.ErrServerClosed.
func Start(t testing.TB, srv *engine.Server) {
	t.Helper()
	if err := srv.Start(); err != nil {
		t.Fatalf("engine: Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("engine: Shutdown: %v", err)
		}
		if err := srv.Wait(); !errors.Is(err, engine.ErrServerClosed) {
			t.Errorf("engine: Run returned %v, want ErrServerClosed", err)
		}
	})
}

// CheckFor polls cond every 5ms until it holds, failing the test if d
// passes first; what names the awaited condition in the failure.
func CheckFor(t testing.TB, d time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Missing ends a test that needs a tool this machine lacks (a browser,
// python3-websockets, openssl): with CI set (.ci/run installs every tool
// the tests need) it fails; elsewhere it skips, saying what is missing and
// how to install it, which make test's summary repeats at its end.
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s: CI must install it (see .ci/run)", why)
	}
	t.Skip(why)
}

// SyncBuffer collects what a command writes (exec's copying goroutine)
// while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
