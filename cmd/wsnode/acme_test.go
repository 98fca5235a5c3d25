package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"edgews/engine/enginetest"
	"github.com/gorilla/websocket"
	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
)

// acmeDomain is the name the node gets a certificate for; the test's DNS
// server answers 127.0.0.1 for it, to Pebble's validation only.
const acmeDomain = "wss.edgews.test"

// TestACMEPebble runs Pebble (the ACME test CA, in this process, never the
// internet) and a node with --acme-domains: the first wss handshake for
// the domain makes the node order a certificate; Pebble validates the
// order over TLS-ALPN-01 on the node's own port (the "acme-tls/1"
// handshake the node closes); the client then gets Pebble's certificate
// and echoes; the account and certificate are cached in --acme-dir.
func TestACMEPebble(t *testing.T) {
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")      // no random wait before validating
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0") // no bad-nonce retries
	t.Setenv("PEBBLE_AUTHZREUSE", "0")      // a fresh validation each order
	plog := new(enginetest.SyncBuffer)      // read when an order fails
	logger := log.New(plog, "", 0)

	// Pebble's ACME API over HTTPS; the node trusts its certificate through
	// SSL_CERT_FILE, as a private ACME CA's clients would.
	var api atomic.Pointer[http.Handler]
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := api.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	}))
	defer ts.Close()
	dir := t.TempDir()
	apiCA := filepath.Join(dir, "acme-api-ca.pem")
	if err := os.WriteFile(apiCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	cache := filepath.Join(dir, "acme")
	cmd := nodeCommand("--log-level", "debug", "--handshake-timeout", "30s", "--acme-domains", acmeDomain, "--acme-dir", cache,
		"--acme-directory-url", ts.URL+"/dir", "--acme-email", "ops@edgews.test")
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+apiCA)
	n := startCmd(t, cmd)
	_, ps, _ := net.SplitHostPort(n.addr)
	port, _ := strconv.Atoi(ps)

	// Pebble: its CA, a VA that validates on the node's port and resolves
	// names with the test's DNS server, the ACME front end.
	resolver := dnsServer(t)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(logger, 0, port, false, resolver, store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	h := front.Handler()
	api.Store(&h)

	roots := x509.NewCertPool()
	roots.AddCert(authority.GetRootCert(0).Cert)
	d := websocket.Dialer{
		TLSClientConfig:  &tls.Config{RootCAs: roots, ServerName: acmeDomain},
		HandshakeTimeout: 30 * time.Second,
		NetDial:          func(string, string) (net.Conn, error) { return net.Dial("tcp", n.addr) },
	}
	c, _, err := d.Dial("wss://"+acmeDomain+"/echo", nil)
	if err != nil {
		for _, id := range orderRE.FindAllStringSubmatch(plog.String(), -1) {
			if o := store.GetOrderByID(id[1]); o != nil && o.Error != nil {
				t.Logf("order %s: %s", id[1], o.Error.Detail)
			}
		}
		t.Fatalf("wss with the ACME certificate: %v\nnode log:\n%s", err, n.logs())
	}
	defer c.Close()
	leaf := c.UnderlyingConn().(*tls.Conn).ConnectionState().PeerCertificates[0]
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != acmeDomain || !strings.Contains(leaf.Issuer.CommonName, "Pebble") {
		t.Fatalf("certificate for %v from %q", leaf.DNSNames, leaf.Issuer.CommonName)
	}
	_ = c.WriteMessage(websocket.TextMessage, []byte("certified"))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, got, err := c.ReadMessage(); err != nil || string(got) != "certified" {
		t.Fatalf("echo %q, %v", got, err)
	}
	if v := scrape(t, n, `wsnode_tls_handshakes_total{outcome="acme",version=""}`); v < 1 {
		t.Fatalf("no TLS-ALPN-01 validation handshake counted (%v)", v)
	}
	files, _ := os.ReadDir(cache)
	var names []string
	for _, f := range files {
		names = append(names, f.Name())
	}
	if !strings.Contains(strings.Join(names, " "), acmeDomain) {
		t.Fatalf("--acme-dir holds %v, no certificate for %s", names, acmeDomain)
	}
}

// orderRE finds the orders Pebble failed in its log.
var orderRE = regexp.MustCompile(`order (\S+) set INVALID`)

// dnsServer answers every A question with 127.0.0.1 (and nothing else),
// over TCP on 127.0.0.1 (as Pebble's VA asks), until the test ends.
// Pebble's VA resolves the names it validates with it.
func dnsServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for _, q := range r.Question {
			if q.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
					A: net.IPv4(127, 0, 0, 1)})
			}
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}
