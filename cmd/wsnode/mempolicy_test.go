package main

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// nodeEnv is the test's environment without GOGC and GOMEMLIMIT, so that
// the node's own defaults apply.
func nodeEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOGC=") && !strings.HasPrefix(kv, "GOMEMLIMIT=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

func startNodeEnv(t *testing.T, env []string, args ...string) *node {
	t.Helper()
	cmd := exec.Command(binPath, append([]string{"--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--loops", "2"}, args...)...)
	cmd.Env = env
	return startCmd(t, cmd)
}

// --gogc and --memory-limit reach the runtime (the Go collector's gauges
// show them); without them the node's default GC percent (100) applies,
// GOGC and GOMEMLIMIT from the environment otherwise.
func TestMemoryPolicyFlags(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	tests := []struct {
		name             string
		env              []string
		args             []string
		wantGC, wantLimt float64
	}{
		{"flags", nodeEnv("GOGC=80"), []string{"--gogc", "37", "--memory-limit", "268435456"}, 37, 268435456},
		{"environment", nodeEnv("GOGC=80", "GOMEMLIMIT=512MiB"), nil, 80, 512 << 20},
		{"WSNODE_ variables", nodeEnv("WSNODE_GOGC=60", "WSNODE_MEMORY_LIMIT=134217728"), nil, 60, 134217728},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := startNodeEnv(t, tt.env, tt.args...)
			if gc := scrape(t, n, "go_gc_gogc_percent"); gc != tt.wantGC {
				t.Errorf("go_gc_gogc_percent = %v, want %v", gc, tt.wantGC)
			}
			if lim := scrape(t, n, "go_gc_gomemlimit_bytes"); lim != tt.wantLimt {
				t.Errorf("go_gc_gomemlimit_bytes = %v, want %v", lim, tt.wantLimt)
			}
		})
	}
	t.Run("default", func(t *testing.T) {
		n := startNodeEnv(t, nodeEnv())
		if gc := scrape(t, n, "go_gc_gogc_percent"); gc != 100 {
			t.Errorf("go_gc_gogc_percent = %v, want the default 100", gc)
		}
		if !strings.Contains(n.logs(), "memory policy") {
			t.Errorf("no memory policy log line:\n%s", n.logs())
		}
	})
	t.Run("collector off without a limit", func(t *testing.T) {
		cmd := exec.Command(binPath, "--addr", "127.0.0.1:0", "--gogc", "-1", "--memory-limit", "-1")
		cmd.Env = nodeEnv()
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "needs a memory limit") {
			t.Fatalf("--gogc -1 without a limit: %v, %s; want exit 2 naming the missing limit", err, out)
		}
	})
}

// After a wave of connections the node returns freed memory to the system
// (counted in wsnode_memory_releases_total{cause="connection_wave"}).
func TestMemoryReleasedAfterConnectionWave(t *testing.T) {
	n := startNodeEnv(t, nodeEnv())
	defer http.DefaultClient.CloseIdleConnections()
	if got := scrape(t, n, `wsnode_memory_releases_total{cause="connection_wave"}`); got != 0 {
		t.Fatalf("wsnode_memory_releases_total = %v before any connection, want 0", got)
	}
	const wave = 1000 // mempolicy.DefaultMinWave
	conns := make([]*websocket.Conn, 0, wave)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range wave {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+n.addr+"/echo", nil)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	deadline := time.Now().Add(10 * time.Second)
	for scrape(t, n, `wsnode_memory_releases_total{cause="connection_wave"}`) < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no memory release 10 s after a wave of %d connections; open: %v", wave, scrape(t, n, "wsnode_connections_open"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
