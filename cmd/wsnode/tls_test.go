package main

import (
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"edgews/codec/tlsrec/tlstest"
	"github.com/gorilla/websocket"
)

func TestTLSFlagErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	tlstest.WriteFile(t, bad, []byte("not a certificate"))
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", bad}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-cert", bad, "--tls-key", bad}, "TLS certificate"},
		{[]string{"--tls-min-version", "1.1", "--tls-cert", bad, "--tls-key", bad}, "want 1.2 or 1.3"},
		{[]string{"--acme-domains", "a.example.com"}, "needs --acme-dir"},
		{[]string{"--acme-domains", "a.example.com", "--acme-dir", dir, "--tls-cert", bad, "--tls-key", bad}, "exclude each other"},
	} {
		out, err := exec.Command(binPath, append([]string{"--addr", "127.0.0.1:0"}, tt.args...)...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), tt.want) {
			t.Errorf("%v: %v\n%s\nwant exit 2 and %q", tt.args, err, out, tt.want)
		}
	}
}

// tlsNode starts a node serving TLS with a certificate from ca in dir.
func tlsNode(t *testing.T, ca *tlstest.CA, dir string, args ...string) *node {
	t.Helper()
	cert, key := ca.WriteLeaf(t, dir, "localhost", "127.0.0.1")
	return startNode(t, append([]string{"--tls-cert", cert, "--tls-key", key}, args...)...)
}

// wssDial opens a wss connection to the node, trusting roots, and returns
// it with the serial of the certificate the node showed.
func wssDial(t *testing.T, n *node, ca *tlstest.CA, path string) (*websocket.Conn, string) {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial("wss://"+n.addr+path, nil)
	if err != nil {
		t.Fatalf("wss dial: %v", err)
	}
	serial := c.UnderlyingConn().(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.String()
	return c, serial
}

// wssSerial is the serial of the certificate a new wss connection gets.
func wssSerial(t *testing.T, n *node, ca *tlstest.CA) string {
	t.Helper()
	c, serial := wssDial(t, n, ca, "/echo")
	_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
	c.Close()
	return serial
}

// TestTLSNode: wss /echo and /chat, https /healthz and the page, plain
// HTTP refused, and the TLS metrics.
func TestTLSNode(t *testing.T) {
	ca := tlstest.NewCA(t)
	n := tlsNode(t, ca, t.TempDir())
	echo, _ := wssDial(t, n, ca, "/echo")
	defer echo.Close()
	for _, msg := range []string{"hello over wss", strings.Repeat("x", 100_000)} {
		_ = echo.WriteMessage(websocket.TextMessage, []byte(msg))
		_ = echo.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, got, err := echo.ReadMessage(); err != nil || string(got) != msg {
			t.Fatalf("echo: %d bytes, %v", len(got), err)
		}
	}
	chat, _ := wssDial(t, n, ca, "/chat")
	defer chat.Close()
	_ = chat.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, greet, err := chat.ReadMessage(); err != nil || !strings.Contains(string(greet), "You are connected") {
		t.Fatalf("chat greeting %q, %v", greet, err)
	}
	_ = chat.WriteMessage(websocket.TextMessage, []byte("hi"))
	if _, got, err := chat.ReadMessage(); err != nil || !strings.HasSuffix(string(got), ": hi") {
		t.Fatalf("chat %q, %v", got, err)
	}
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}, Timeout: 5 * time.Second}
	defer cl.CloseIdleConnections()
	for _, path := range []string{"/healthz", "/"} {
		resp, err := cl.Get("https://" + n.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(body) == 0 {
			t.Fatalf("https %s: %d", path, resp.StatusCode)
		}
	}
	if resp, err := http.Get("http://" + n.addr + "/healthz"); err != nil || resp.StatusCode != 400 {
		t.Fatalf("plain HTTP on the TLS port: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	http.DefaultClient.CloseIdleConnections()
	waitMetric(t, n, `wsnode_tls_handshakes_total{outcome="ok",version="1.3"}`, 4)
	waitMetric(t, n, `wsnode_tls_handshakes_total{outcome="http",version=""}`, 1)
	if v := scrape(t, n, "wsnode_tls_handshake_seconds_count"); v != 4 {
		t.Fatalf("handshake seconds count %v", v)
	}
	if v := scrape(t, n, "wsnode_tls_certificate_not_after_seconds"); v < float64(time.Now().Unix()) {
		t.Fatalf("certificate expiry %v", v)
	}
}

// TestTLSCertReloadUnderLoad replaces the certificate files while 40
// users chat over wss: the node reloads them at its next sweep, new
// handshakes get the new certificate, no connection is lost; a broken
// pair half-written (the certificate before its key) is refused and then
// taken once whole; a broken file on SIGHUP keeps the certificate in use.
func TestTLSCertReloadUnderLoad(t *testing.T) {
	ca := tlstest.NewCA(t)
	dir := t.TempDir()
	n := tlsNode(t, ca, dir, "--chat-rate", "0")
	first := make(map[string]bool)
	var users []*websocket.Conn
	for range 40 {
		c, serial := wssDial(t, n, ca, "/chat")
		defer c.Close()
		first[serial] = true
		users = append(users, c)
	}
	if len(first) != 1 {
		t.Fatalf("%d certificates before the reload", len(first))
	}
	// Everyone reads; one user talks the whole time.
	var received atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, c := range users {
		wg.Go(func() {
			for {
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, _, err := c.ReadMessage(); err != nil {
					select {
					case <-stop:
					default:
						t.Errorf("a user lost its connection: %v", err)
					}
					return
				}
				received.Add(1)
			}
		})
	}
	talk := make(chan struct{})
	go func() {
		defer close(talk)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			_ = users[0].WriteMessage(websocket.TextMessage, []byte("still here"))
		}
	}()

	// A pair half-written: the new certificate before its key.
	certPEM, keyPEM := ca.LeafPEM(t, "localhost", "127.0.0.1")
	tlstest.WriteFile(t, filepath.Join(dir, "cert.pem"), certPEM)
	waitMetric(t, n, `wsnode_tls_certificate_reloads_total{result="error"}`, 1)
	if serial := wssSerial(t, n, ca); !first[serial] {
		t.Fatal("a half-written pair replaced the certificate")
	}
	tlstest.WriteFile(t, filepath.Join(dir, "key.pem"), keyPEM)
	waitMetric(t, n, `wsnode_tls_certificate_reloads_total{result="ok"}`, 1)
	second := wssSerial(t, n, ca)
	if first[second] {
		t.Fatal("new handshakes still get the old certificate")
	}
	// A broken file on SIGHUP: logged, counted, the certificate kept.
	tlstest.WriteFile(t, filepath.Join(dir, "cert.pem"), []byte("garbage"))
	_ = n.cmd.Process.Signal(syscall.SIGHUP)
	waitMetric(t, n, `wsnode_tls_certificate_reloads_total{result="error"}`, 2)
	if serial := wssSerial(t, n, ca); serial != second {
		t.Fatal("a broken file replaced the certificate")
	}
	before := received.Load()
	deadline := time.Now().Add(5 * time.Second)
	for received.Load() < before+40 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	<-talk
	for _, c := range users {
		_ = c.SetReadDeadline(time.Now()) // ends the readers
	}
	wg.Wait()
	if received.Load() < before+40 {
		t.Fatalf("the users stopped receiving after the reloads (%d, then %d)", before, received.Load())
	}
	waitMetric(t, n, "wsnode_connections_open", 40) // the users, all still there
	waitMetric(t, n, `wsnode_closes_total{code="1006"}`, 0)
	if !strings.Contains(n.logs(), "TLS certificate not reloaded: keeping the one in use") {
		t.Fatalf("no log of the refused reload:\n%s", n.logs())
	}
	if strings.Contains(n.logs(), "PRIVATE KEY") {
		t.Fatal("the log holds key material")
	}
	_ = os.Remove(filepath.Join(dir, "cert.pem"))
}
