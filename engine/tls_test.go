package engine_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
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

	"edgews/codec"
	"edgews/codec/tlsrec"
	"edgews/codec/tlsrec/tlstest"
	"edgews/engine"
	"edgews/engine/enginetest"
)

// tlsEcho is an echo server (/echo, and /healthz over HTTP) serving TLS
// with a certificate for localhost and 127.0.0.1 from a test CA.
func tlsEcho(t testing.TB, cfg engine.Config) (*engine.Server, *recorder, *tlstest.CA) {
	t.Helper()
	ca := tlstest.NewCA(t)
	cfg.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, "localhost", "127.0.0.1")}}
	rec := &recorder{}
	srv := startServer(t, cfg, func(s *engine.Server) {
		s.Handle("/echo", rec)
		s.HandleHTTP("/healthz", func(*engine.Request) engine.Response {
			return engine.Response{Status: 200, Body: []byte("ok\n")}
		})
	})
	return srv, rec, ca
}

// dialTLS connects to srv with crypto/tls (cfg gets the CA and the server
// name) and upgrades to path.
func dialTLS(t testing.TB, srv *engine.Server, ca *tlstest.CA, cfg *tls.Config, path string) (*rawClient, *tls.Conn) {
	t.Helper()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg.RootCAs, cfg.ServerName, cfg.NextProtos = ca.Pool(), "localhost", []string{"http/1.1"}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", srv.Addr().String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return upgradeRaw(t, conn, path), conn
}

// echoes sends messages of several sizes (one over several records) and
// checks each echo.
func echoes(t testing.TB, rc *rawClient) {
	t.Helper()
	for _, n := range []int{0, 5, 1000, 70_000} {
		msg := bytes.Repeat([]byte{byte(n)}, n)
		rc.write(frame(true, codec.OpBinary, msg))
		ev, err := rc.next(5 * time.Second)
		if err != nil || !bytes.Equal(ev.Payload, msg) {
			t.Fatalf("echo of %d bytes: %d bytes back, %v", n, len(ev.Payload), err)
		}
	}
}

// TestTLSEchoGoClient: Go's crypto/tls client, with each TLS 1.3 suite and
// with TLS 1.2, echoes through the node; the close handshake ends with the
// node's close_notify.
func TestTLSEchoGoClient(t *testing.T) {
	for _, tt := range []struct {
		name  string
		suite uint16
		max   uint16
	}{
		{"TLS1.3/AES-128-GCM", tls.TLS_AES_128_GCM_SHA256, 0},
		{"TLS1.3/AES-256-GCM", tls.TLS_AES_256_GCM_SHA384, 0},
		{"TLS1.3/ChaCha20-Poly1305", tls.TLS_CHACHA20_POLY1305_SHA256, 0},
		{"TLS1.2", 0, tls.VersionTLS12},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.suite != 0 {
				tlstest.OnlySuite(t, tt.suite) // before the server starts its workers
			}
			srv, rec, ca := tlsEcho(t, engine.Config{})
			rc, conn := dialTLS(t, srv, ca, &tls.Config{MaxVersion: tt.max}, "/echo")
			st := conn.ConnectionState()
			if (tt.suite != 0 && st.CipherSuite != tt.suite) || (tt.max != 0 && st.Version != tt.max) || st.NegotiatedProtocol != "http/1.1" {
				t.Fatalf("negotiated %s, suite %#x, ALPN %q", tls.VersionName(st.Version), st.CipherSuite, st.NegotiatedProtocol)
			}
			echoes(t, rc)
			rc.write(frame(true, codec.OpClose, []byte{3, 232}))
			if code := rc.expectClose(5 * time.Second); code != 1000 {
				t.Fatalf("close %d", code)
			}
			// The node ends TLS with close_notify: crypto/tls reads io.EOF,
			// not a reset.
			if _, err := rc.next(5 * time.Second); err != io.EOF {
				t.Fatalf("after the close: %v, want io.EOF (close_notify)", err)
			}
			enginetest.CheckFor(t, 5*time.Second, func() bool { return rec.count("close") == 1 }, "the close")
			st2 := srv.Stats().TLS
			v := [2]int64{0, 1}
			if tt.max != 0 {
				v = [2]int64{1, 0}
			}
			if st2.Handshakes[engine.TLSOK] != 1 || st2.Versions != v || st2.AlertsSent["close_notify"] != 1 {
				t.Fatalf("TLS stats: %+v", st2)
			}
			if n := sum(st2.HandshakeSeconds); n != 1 || st2.HandshakeSecondsSum <= 0 {
				t.Fatalf("handshake seconds: %v, sum %v", st2.HandshakeSeconds, st2.HandshakeSecondsSum)
			}
		})
	}
}

func sum(v []int64) (n int64) {
	for _, x := range v {
		n += x
	}
	return n
}

// TestTLSHTTPRoute: an HTTP route answers over https (net/http's client),
// and a plain-HTTP request on the TLS port gets net/http's 400.
func TestTLSHTTPRoute(t *testing.T) {
	srv, _, ca := tlsEcho(t, engine.Config{})
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}, Timeout: 5 * time.Second}
	defer cl.CloseIdleConnections()
	resp, err := cl.Get("https://localhost:" + port(srv) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	plain, err := http.Get("http://" + srv.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(plain.Body)
	plain.Body.Close()
	if plain.StatusCode != 400 || !strings.Contains(string(body), "HTTP request to an HTTPS server") {
		t.Fatalf("plain HTTP on the TLS port: %d %q", plain.StatusCode, body)
	}
	if n := srv.Stats().TLS.Handshakes[engine.TLSHTTP]; n != 1 {
		t.Fatalf("counted %d plain HTTP requests", n)
	}
}

func port(srv *engine.Server) string { return fmt.Sprint(srv.Addr().(*net.TCPAddr).Port) }

// TestTLSNotTLS: what is not a TLS 1.2+ client is answered with the right
// alert, counted, and the node keeps serving.
func TestTLSNotTLS(t *testing.T) {
	srv, _, ca := tlsEcho(t, engine.Config{})
	for _, tt := range []struct {
		name    string
		send    string
		alert   byte
		outcome engine.TLSOutcome
	}{
		{"garbage", "\x01\x02\x03\x04\x05\x06\x07\x08", 10, engine.TLSNotTLS},
		{"over-long record", "\x16\x03\x01\x50\x00\x01", 22, engine.TLSNotTLS},
		{"SSLv2 hello", "\x80\x2e\x01\x00\x02\x00\x15", 70, engine.TLSVersion},
		{"TLS 1.0 hello", tls10Hello(), 70, engine.TLSVersion},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", srv.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, _ = io.WriteString(conn, tt.send)
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, _ := io.ReadAll(conn)
			// An alert record (any record version), fatal, tt.alert.
			if len(got) != 7 || got[0] != 21 || got[3] != 0 || got[4] != 2 || got[5] != 2 || got[6] != tt.alert {
				t.Fatalf("answer % x, want a fatal alert %d", got, tt.alert)
			}
		})
	}
	enginetest.CheckFor(t, 5*time.Second, func() bool {
		st := srv.Stats().TLS
		return st.Handshakes[engine.TLSNotTLS] == 2 && st.Handshakes[engine.TLSVersion] == 2 &&
			st.AlertsSent["protocol_version"] == 2 && st.AlertsSent["unexpected_message"] == 1 && st.AlertsSent["record_overflow"] == 1
	}, "the counts")
	rc, _ := dialTLS(t, srv, ca, nil, "/echo")
	echoes(t, rc)
}

// tls10Hello is a TLS 1.0 ClientHello (no supported_versions extension),
// which Go's client can no longer send: crypto/tls answers it with
// protocol_version.
func tls10Hello() string {
	body := []byte{3, 1}                        // client_version TLS 1.0
	body = append(body, make([]byte, 32)...)    // random
	body = append(body, 0, 0, 2, 0, 0x2f, 1, 0) // no session, TLS_RSA_WITH_AES_128_CBC_SHA, no compression
	msg := append([]byte{1, 0, 0, byte(len(body))}, body...)
	return string(append([]byte{22, 3, 1, 0, byte(len(msg))}, msg...))
}

// TestTLSHandshakeTimeout: a ClientHello trickled a byte at a time holds
// no worker and is closed at HandshakeTimeout, as is a client that never
// sends its Finished, while another connection is served.
func TestTLSHandshakeTimeout(t *testing.T) {
	srv, _, ca := tlsEcho(t, engine.Config{HandshakeTimeout: 300 * time.Millisecond, TLSHandshakeWorkers: 1})
	hello := clientHello(t)
	trickle, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer trickle.Close()
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		for i := 0; i < len(hello)-1; i++ {
			if _, err := trickle.Write(hello[i : i+1]); err != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	go func() {
		_, _ = io.Copy(io.Discard, trickle)
		closed <- time.Since(start)
	}()
	// Meanwhile the one worker serves a real client.
	rc, _ := dialTLS(t, srv, ca, nil, "/echo")
	echoes(t, rc)
	select {
	case d := <-closed:
		if d < 300*time.Millisecond {
			t.Fatalf("closed after %v, before the timeout", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the trickling client was not closed")
	}
	enginetest.CheckFor(t, 5*time.Second, func() bool { return srv.Stats().TLS.Handshakes[engine.TLSTimeout] == 1 }, "the timeout count")
	if st := srv.Stats().TLS; st.HandshakesPeak != 1 {
		t.Fatalf("peak handshakes %d with one worker", st.HandshakesPeak)
	}
	_ = ca
}

// clientHello is the first flight of Go's TLS client.
func clientHello(t testing.TB) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { _ = tls.Client(a, &tls.Config{ServerName: "localhost"}).Handshake() }()
	buf := make([]byte, 64<<10)
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := b.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// TestTLSMinVersion13: with MinVersion 1.3 a TLS 1.2 client is refused
// with protocol_version.
func TestTLSMinVersion13(t *testing.T) {
	ca := tlstest.NewCA(t)
	srv := startServer(t, engine.Config{TLS: &tls.Config{MinVersion: tls.VersionTLS13,
		Certificates: []tls.Certificate{ca.Leaf(t, "localhost")}}}, func(s *engine.Server) { s.Handle("/echo", &recorder{}) })
	_, err := tls.Dial("tcp", srv.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MaxVersion: tls.VersionTLS12})
	if err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Fatalf("TLS 1.2 client: %v", err)
	}
	rc, _ := dialTLS(t, srv, ca, nil, "/echo")
	echoes(t, rc)
}

// TestTLSOpenSSLKeyUpdate: openssl s_client upgrades, echoes, asks for a
// KeyUpdate ("K": update_requested), and echoes again: the node followed
// its key and answered with its own update.
func TestTLSOpenSSLKeyUpdate(t *testing.T) {
	openssl := tool(t, "openssl")
	srv, _, ca := tlsEcho(t, engine.Config{})
	caFile := ca.WriteCA(t, t.TempDir())
	cmd := exec.Command(openssl, "s_client", "-connect", srv.Addr().String(), "-servername", "localhost",
		"-CAfile", caFile, "-verify_return_error", "-tls1_3", "-alpn", "http/1.1")
	stdin, _ := cmd.StdinPipe()
	out := new(enginetest.SyncBuffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	// s_client reads its commands ("K") at the start of a read of stdin,
	// so every write is apart from the others.
	step := func(b []byte, want string) {
		t.Helper()
		if _, err := stdin.Write(b); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(out.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q from openssl s_client:\n%s", want, out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	step([]byte(strings.Replace(upgradeReq, "%s", "/echo", 1)), "101 Switching Protocols")
	step(frame(true, codec.OpText, []byte("before-the-update")), "before-the-update")
	step([]byte("K\n"), "KEYUPDATE")
	time.Sleep(100 * time.Millisecond)
	step(frame(true, codec.OpText, []byte("after-the-update")), "after-the-update")
	enginetest.CheckFor(t, 5*time.Second, func() bool {
		st := srv.Stats().TLS
		return st.KeyUpdatesReceived == 1 && st.KeyUpdatesSent == 1
	}, "the KeyUpdate counts")
}

// tool finds a program the test needs (enginetest.Missing without it).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		enginetest.Missing(t, name+" not installed (apt-get install "+name+")")
	}
	return p
}

// pythonTLSClient is python3-websockets over python's ssl module, with the
// test CA: it echoes a text and a binary message.
const pythonTLSClient = `
import asyncio, ssl, sys, websockets

async def main(url, ca):
    ctx = ssl.create_default_context(cafile=ca)
    async with websockets.connect(url, ssl=ctx, compression=None) as ws:
        for msg in ["python over TLS " * 100, bytes(range(256)) * 100]:
            await ws.send(msg)
            got = await asyncio.wait_for(ws.recv(), 5)
            if got != msg:
                sys.exit("echo differs: %r" % got[:40])
    print("ok", ssl.OPENSSL_VERSION)

asyncio.run(main(sys.argv[1], sys.argv[2]))
`

func TestTLSPythonSSL(t *testing.T) {
	py := python3(t)
	srv, _, ca := tlsEcho(t, engine.Config{})
	dir := t.TempDir()
	script := filepath.Join(dir, "client.py")
	if err := os.WriteFile(script, []byte(pythonTLSClient), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, script, "wss://localhost:"+port(srv)+"/echo", ca.WriteCA(t, dir)).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "ok") {
		t.Fatalf("python: %v\n%s", err, out)
	}
	t.Logf("python: %s", bytes.TrimSpace(out))
}

// recClient is a client whose record layer is tlsrec's, over a blocking
// TCP connection: it can send what crypto/tls never would (a flipped
// bit, a replayed record).
type recClient struct {
	t    *testing.T
	conn net.Conn
	rec  tlsrec.Conn
	in   []byte // records read, not yet opened
	data []byte // application data opened, not yet consumed
	dec  codec.Decoder
}

func dialRec(t *testing.T, srv *engine.Server, ca *tlstest.CA) *recClient {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	pool := tlsrec.NewPool(1, 1)
	defer pool.Close()
	h, rest, err := tlsrec.Drive(conn, pool, tlsrec.Client, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	rc := &recClient{t: t, conn: conn, in: append(h.Leftover(), rest...)}
	rc.dec.Role = codec.RoleClient
	rc.dec.MaxFrameSize, rc.dec.MaxMessageSize = 1<<30, 1<<30
	in, out := h.Secrets()
	if err := rc.rec.Init(tlsrec.Client, h.CipherSuite(), in, out); err != nil {
		t.Fatal(err)
	}
	rc.send(rc.seal([]byte(strings.Replace(upgradeReq, "%s", "/echo", 1))))
	for !bytes.Contains(rc.data, []byte("\r\n\r\n")) {
		if err := rc.read(); err != nil {
			t.Fatalf("reading the 101: %v", err)
		}
	}
	rc.data = rc.data[bytes.Index(rc.data, []byte("\r\n\r\n"))+4:]
	return rc
}

func (rc *recClient) seal(b []byte) []byte {
	out, err := rc.rec.Seal(nil, b)
	if err != nil {
		rc.t.Fatal(err)
	}
	return out
}

func (rc *recClient) send(b []byte) {
	if _, err := rc.conn.Write(b); err != nil {
		rc.t.Fatal(err)
	}
}

// read opens what arrives next; the error is the record layer's (the
// node's alert) or the socket's.
func (rc *recClient) read() error {
	for {
		if len(rc.in) > 0 {
			res, err := rc.rec.Open(rc.in)
			rc.data = append(rc.data, res.Data...)
			rc.in = append(rc.in[:0], rc.in[res.N:]...)
			if err != nil || len(res.Data) > 0 || res.KeyUpdates > 0 {
				return err
			}
		}
		_ = rc.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 32<<10)
		n, err := rc.conn.Read(buf)
		rc.in = append(rc.in, buf[:n]...)
		if n == 0 && err != nil {
			return err
		}
	}
}

// echo sends a frame and waits for its echo.
func (rc *recClient) echo(msg string) {
	rc.t.Helper()
	rc.send(rc.seal(frame(true, codec.OpText, []byte(msg))))
	for {
		ev, n, err := rc.dec.Next(rc.data)
		if err != nil {
			rc.t.Fatal(err)
		}
		if ev.Kind == codec.KindMessage {
			if string(ev.Payload) != msg {
				rc.t.Fatalf("echo %q, want %q", ev.Payload, msg)
			}
			rc.data = rc.data[n:]
			return
		}
		if err := rc.read(); err != nil {
			rc.t.Fatalf("waiting for the echo: %v", err)
		}
	}
}

// expectAlert reads until the node's alert and then the end of TCP.
func (rc *recClient) expectAlert(want tlsrec.Alert) {
	rc.t.Helper()
	for {
		err := rc.read()
		var ae *tlsrec.AlertError
		if errors.As(err, &ae) {
			if ae.Alert != want || !ae.Remote {
				rc.t.Fatalf("alert %v, want the node's %v", ae, want)
			}
			if err := rc.read(); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
				rc.t.Fatalf("after the alert: %v, want the connection closed", err)
			}
			return
		}
		if err != nil {
			rc.t.Fatalf("waiting for %v: %v", want, err)
		}
	}
}

// TestTLSRecordFaults: the node's record layer against records crypto/tls
// would never send: each fault gets its alert and a close, and the node
// keeps serving; a KeyUpdate asking for the node's is followed and
// answered.
func TestTLSRecordFaults(t *testing.T) {
	srv, _, ca := tlsEcho(t, engine.Config{})
	for _, tt := range []struct {
		name  string
		send  func(rc *recClient)
		alert tlsrec.Alert
	}{
		{"flipped bit", func(rc *recClient) {
			r := rc.seal(frame(true, codec.OpText, []byte("flip")))
			r[len(r)-3] ^= 0x10
			rc.send(r)
		}, tlsrec.AlertBadRecordMAC},
		{"replayed record", func(rc *recClient) {
			r := rc.seal(frame(true, codec.OpText, []byte("once")))
			rc.send(append(r, r...))
		}, tlsrec.AlertBadRecordMAC},
		{"reordered records", func(rc *recClient) {
			a := rc.seal(frame(true, codec.OpText, []byte("first")))
			b := rc.seal(frame(true, codec.OpText, []byte("second")))
			rc.send(append(b, a...))
		}, tlsrec.AlertBadRecordMAC},
		{"over-long record", func(rc *recClient) {
			rc.send([]byte{23, 3, 3, 0x41, 0x01})
		}, tlsrec.AlertRecordOverflow},
		{"plaintext alert", func(rc *recClient) {
			rc.send(tlsrec.PlainAlert(tlsrec.AlertHandshakeFailure))
		}, tlsrec.AlertUnexpectedMessage},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRec(t, srv, ca)
			rc.echo("before the fault")
			tt.send(rc)
			rc.expectAlert(tt.alert)
		})
	}
	rc := dialRec(t, srv, ca)
	rc.echo("one")
	ku, err := rc.rec.AppendKeyUpdate(nil, true)
	if err != nil {
		t.Fatal(err)
	}
	rc.send(ku)
	rc.echo("after our update")
	if rc.rec.NeedKeyUpdate() {
		t.Fatal("the node asked for another update")
	}
	st := srv.Stats().TLS
	if st.AlertsSent["bad_record_mac"] != 3 || st.AlertsSent["record_overflow"] != 1 || st.AlertsSent["unexpected_message"] != 1 ||
		st.KeyUpdatesReceived != 1 || st.KeyUpdatesSent != 1 {
		t.Fatalf("TLS stats: %+v", st)
	}
}

// TestTLSHandshakeStorm: a burst of TLS connects, far more than the
// workers, while connected users echo: the pool stays at its size, every
// handshake ends (done or counted), the users are served throughout, and
// what the handshakes held is charged to the memory budget and released.
func TestTLSHandshakeStorm(t *testing.T) {
	const workers, storm, users = 4, 200, 10
	srv, _, ca := tlsEcho(t, engine.Config{TLSHandshakeWorkers: workers, MemoryBudget: 64 << 20})
	var clients []*rawClient
	for range users {
		rc, _ := dialTLS(t, srv, ca, nil, "/echo")
		clients = append(clients, rc)
	}
	stop := make(chan struct{})
	var echoed atomic.Int64
	var wg sync.WaitGroup
	for _, rc := range clients {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				rc.conn.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := rc.conn.Write(frame(true, codec.OpText, []byte("still here"))); err != nil {
					t.Errorf("echo user: %v", err)
					return
				}
				ev, err := rc.next(10 * time.Second)
				if err != nil || string(ev.Payload) != "still here" {
					t.Errorf("echo user during the storm: %q, %v", ev.Payload, err)
					return
				}
				echoed.Add(1)
			}
		})
	}
	var maxHeld atomic.Int64
	watch := make(chan struct{})
	go func() {
		defer close(watch)
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if h := srv.HeldBytes(); h > maxHeld.Load() {
				maxHeld.Store(h)
			}
		}
	}()
	cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
	var ok atomic.Int64
	jobs := make(chan struct{})
	var dialers sync.WaitGroup
	for range 32 {
		dialers.Go(func() {
			for range jobs {
				c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", srv.Addr().String(), cfg)
				if err == nil {
					ok.Add(1)
					c.Close()
				}
			}
		})
	}
	before := echoed.Load()
	for range storm {
		jobs <- struct{}{}
	}
	close(jobs)
	dialers.Wait()
	during := echoed.Load() - before
	close(stop)
	wg.Wait()
	<-watch
	st := srv.Stats().TLS
	t.Logf("storm: %d of %d handshakes done, %d echoes during it, peak %d running, held at most %d bytes", ok.Load(), storm, during, st.HandshakesPeak, maxHeld.Load())
	if ok.Load() != storm {
		t.Fatalf("%d of %d storm handshakes completed", ok.Load(), storm)
	}
	if st.HandshakesPeak > workers {
		t.Fatalf("%d handshakes ran at once with %d workers", st.HandshakesPeak, workers)
	}
	if during == 0 {
		t.Fatal("no echo was served during the storm")
	}
	if maxHeld.Load() == 0 || maxHeld.Load() > 64<<20 {
		t.Fatalf("held at most %d bytes during the storm", maxHeld.Load())
	}
	enginetest.CheckFor(t, 5*time.Second, func() bool {
		s := srv.Stats().TLS
		// A storm client closes at once: its Finished may reach a node
		// that sees the close first (counted closed).
		return s.Handshakes[engine.TLSOK]+s.Handshakes[engine.TLSClosed] == storm+users && s.HandshakesRunning == 0 && s.HandshakesQueued == 0
	}, "every handshake counted")
	enginetest.CheckFor(t, 5*time.Second, func() bool { return srv.HeldBytes() == 0 }, "the handshakes' memory released")
}
