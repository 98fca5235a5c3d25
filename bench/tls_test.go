package bench_test

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"edgews/bench"
	"edgews/codec/tlsrec/tlstest"
	"edgews/engine"
	"edgews/hub"
	"github.com/gorilla/websocket"
)

// wssNode runs the node serving TLS with a certificate from a test CA and
// returns its wss:// URL and the CA's file.
func wssNode(t *testing.T) (url, caFile string, srv *engine.Server) {
	t.Helper()
	ca := tlstest.NewCA(t)
	srv = startServer(t, engine.Config{TLS: &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, "localhost", "127.0.0.1")}}},
		hub.Config{})
	return "wss://" + srv.Addr().String(), ca.WriteCA(t, t.TempDir()), srv
}

// TestWSSNode: echo (messages over several records) and broadcast against
// the node over wss, on the bench's loops: counts exact, TLS handshake
// times reported beside the connect times.
func TestWSSNode(t *testing.T) {
	url, ca, srv := wssNode(t)
	rep := run(t, bench.Config{Scenario: bench.Echo, URL: url, CA: ca, Conns: 20, Duration: time.Second, InFlight: 2, Payload: 40_000})
	c, m := rep.Conns, rep.Messages
	if c.Connected != 20 || c.Failed != 0 || m.Sent == 0 || m.Received != m.Sent || m.Lost != 0 {
		t.Fatalf("echo over wss: conns %+v, messages %+v", c, m)
	}
	if c.TLSHandshakeTime == nil || c.TLSHandshakeTime.Count != 20 || c.TLSHandshakeTime.P50Us > c.ConnectTime.P50Us {
		t.Fatalf("TLS handshake time %+v, connect time %+v", c.TLSHandshakeTime, c.ConnectTime)
	}
	rep = run(t, bench.Config{Scenario: bench.Broadcast, URL: url, CA: ca, Conns: 30, Senders: 5, Rate: 100, Duration: time.Second})
	if m := rep.Messages; rep.Conns.OpenAtStart != 30 || m.Sent < 30 || m.Received != m.Expected || m.Lost != 0 {
		t.Fatalf("broadcast over wss: %+v", m)
	}
	if st := srv.Stats().TLS; st.Versions[1] != 50 || st.Handshakes[engine.TLSFailed] != 0 {
		t.Fatalf("node TLS stats: %+v", st)
	}
}

// TestWSSCryptoTLSServer: the bench against a WebSocket echo server on
// net/http's crypto/tls, which sends session tickets after its Finished
// (the bench's record layer skips them).
func TestWSSCryptoTLSServer(t *testing.T) {
	ca := tlstest.NewCA(t)
	up := websocket.Upgrader{}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			op, p, err := c.ReadMessage()
			if err != nil || c.WriteMessage(op, p) != nil {
				return
			}
		}
	}))
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, "127.0.0.1")}}
	ts.StartTLS()
	defer ts.Close()
	url := "wss://" + ts.Listener.Addr().String() + "/echo"
	rep := run(t, bench.Config{Scenario: bench.Echo, URL: url, CA: ca.WriteCA(t, t.TempDir()), Conns: 10, Duration: time.Second, Payload: 20_000})
	if c, m := rep.Conns, rep.Messages; c.Connected != 10 || m.Sent == 0 || m.Received != m.Sent || m.Lost != 0 {
		t.Fatalf("echo against crypto/tls: conns %+v, messages %+v", c, m)
	}
	ts.CloseClientConnections()
}

// TestWSSUntrusted: a certificate the bench does not trust fails every
// connection with the TLS reason; --insecure connects.
func TestWSSUntrusted(t *testing.T) {
	url, _, _ := wssNode(t)
	other := tlstest.NewCA(t).WriteCA(t, t.TempDir())
	_, err := runErr(t, bench.Config{Scenario: bench.Connect, URL: url, CA: other, Conns: 5, Duration: 200 * time.Millisecond, MaxFailures: 2})
	var fe *bench.FailError
	if !errors.As(err, &fe) || fe.Reason != bench.ReasonTLS || !strings.Contains(fe.Msg, "certificate") || !errors.Is(err, bench.ErrHandshake) {
		t.Fatalf("untrusted certificate: %v", err)
	}
	rep := run(t, bench.Config{Scenario: bench.Connect, URL: url, Insecure: true, Conns: 5, Duration: 200 * time.Millisecond})
	if rep.Conns.Connected != 5 {
		t.Fatalf("--insecure: %+v", rep.Conns)
	}
}

// TestEchoLargeFrames: echo messages far larger than one read, over ws and
// wss: a frame's start arrives alone in a read, and must stay buffered
// (gnet's Discard(0) would drop everything it holds).
func TestEchoLargeFrames(t *testing.T) {
	wss, ca, _ := wssNode(t)
	for _, url := range []string{startNode(t), wss} {
		rep := run(t, bench.Config{Scenario: bench.Echo, URL: url, CA: ca, Conns: 4, Duration: time.Second, Payload: 300_000})
		if c, m := rep.Conns, rep.Messages; c.Connected != 4 || c.Disconnects != 0 || m.Sent == 0 || m.Received != m.Sent || m.Lost != 0 {
			t.Fatalf("%s: conns %+v, messages %+v", url, c, m)
		}
	}
}
