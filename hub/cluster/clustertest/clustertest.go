// Package clustertest runs a real nats-server (with JetStream) in-process
// for tests of clustered nodes, as engine/enginetest does for the engine:
//
//	ns := clustertest.StartNATS(t)  // 127.0.0.1, random port, store in t.TempDir()
//	cl, _ := cluster.New(cluster.Config{URLs: ns.URL()})
//	ns.Restart(t)                   // same port and store: "NATS restarted"
//	ns.RestartEmpty(t)              // same port, empty store: "NATS lost its data"
package clustertest

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NATS is an in-process nats-server that a test may stop and restart on
// the same port and store directory.
type NATS struct {
	ns   *server.Server
	port int
	dir  string
}

// StartNATS starts a server on 127.0.0.1 (random port, JetStream on,
// store in a temporary directory) and shuts it down when the test ends.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	n := &NATS{port: -1, dir: t.TempDir()}
	n.start(t)
	t.Cleanup(n.Shutdown)
	return n
}

func (n *NATS) start(t testing.TB) {
	t.Helper()
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: n.port, JetStream: true, StoreDir: n.dir,
		NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatalf("clustertest: nats-server: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("clustertest: nats-server not ready in 10s")
	}
	n.ns = ns
	n.port = ns.Addr().(*net.TCPAddr).Port
}

// UnstartedNATS reserves a free port for a server that Start starts
// later: nodes pointed at URL find NATS unreachable until then.
func UnstartedNATS(t testing.TB) *NATS {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &NATS{port: ln.Addr().(*net.TCPAddr).Port, dir: t.TempDir()}
	ln.Close()
	t.Cleanup(n.Shutdown)
	return n
}

// Start starts an unstarted (or shut down) server.
func (n *NATS) Start(t testing.TB) {
	t.Helper()
	n.start(t)
}

// URL is the server's client URL.
func (n *NATS) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(n.port) }

// Shutdown stops the server (if running) and waits for it.
func (n *NATS) Shutdown() {
	if n.ns == nil {
		return
	}
	n.ns.Shutdown()
	n.ns.WaitForShutdown()
	n.ns = nil
}

// Restart starts the server again on the same port and store directory,
// after Shutdown.
func (n *NATS) Restart(t testing.TB) {
	t.Helper()
	n.Shutdown()
	n.start(t)
}

// RestartEmpty starts the server again on the same port with an empty
// store, after Shutdown: a NATS that lost its JetStream data.
func (n *NATS) RestartEmpty(t testing.TB) {
	t.Helper()
	n.Shutdown()
	n.dir = t.TempDir()
	n.start(t)
}

// DisableJetStream turns JetStream off while the server keeps serving its
// clients: the nodes stay connected (and healthy) but every registry call
// fails, as when the registry is overloaded.
func (n *NATS) DisableJetStream(t testing.TB) {
	t.Helper()
	if err := n.ns.DisableJetStream(); err != nil {
		t.Fatalf("clustertest: disable JetStream: %v", err)
	}
}

// EnableJetStream turns JetStream on again, with the same store.
func (n *NATS) EnableJetStream(t testing.TB) {
	t.Helper()
	if err := n.ns.EnableJetStream(&server.JetStreamConfig{StoreDir: n.dir}); err != nil {
		t.Fatalf("clustertest: enable JetStream: %v", err)
	}
}
