package cluster_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edgews/hub/cluster"
)

// An embedded server that cannot start fails with nats-server's reason,
// not with a wait for readiness ("not ready in 10s"): a store directory
// that cannot be created, a client port that is taken.
func TestEmbedFailsWithTheReason(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()

	tests := []struct {
		name      string
		cfg       cluster.EmbedConfig
		wantError string
	}{
		{"store under a file", cluster.EmbedConfig{Addr: freeAddr, StoreDir: filepath.Join(file, "nats")}, "storage directory"},
		{"port taken", cluster.EmbedConfig{Addr: taken.Addr().String(), StoreDir: t.TempDir()}, "address already in use"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := cluster.Embed(tt.cfg)
			if err == nil {
				e.Shutdown()
				t.Fatal("Embed succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantError) {
				t.Fatalf("Embed: %v; want the server's reason, %q", err, tt.wantError)
			}
		})
	}
}
