package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"edgews/engine"
	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// TLS on the node's port: a certificate from files (--tls-cert/--tls-key,
// reloaded on SIGHUP and when the files change), or from an ACME CA
// (--acme-domains, autocert over TLS-ALPN-01 on the same port).

// tlsFlags are the TLS flags.
type tlsFlags struct {
	cert, key                                string
	minVersion                               string
	acmeDomains, acmeDir, acmeURL, acmeEmail string
}

func addTLSFlags(fs *flag.FlagSet, f *tlsFlags, e *engine.Config) []string {
	fs.StringVar(&f.cert, "tls-cert", "", "serve TLS (https, wss) on --addr with this PEM certificate chain (leaf first); reloaded on SIGHUP and when the file changes")
	fs.StringVar(&f.key, "tls-key", "", "the PEM private key of --tls-cert")
	fs.StringVar(&f.minVersion, "tls-min-version", "1.2", "oldest TLS version accepted: 1.2 or 1.3")
	fs.IntVar(&e.TLSHandshakeWorkers, "tls-handshake-workers", 0, fmt.Sprintf("TLS handshakes in progress at once, each on a goroutine off the event loops; more wait in a queue (0 = %d per CPU core)", engine.DefaultTLSHandshakeWorkers))
	fs.StringVar(&f.acmeDomains, "acme-domains", "", "serve TLS with certificates obtained and renewed from an ACME CA (TLS-ALPN-01 on --addr, which must be port 443 for a public CA) for these comma-separated domains; instead of --tls-cert")
	fs.StringVar(&f.acmeDir, "acme-dir", "", "directory caching the ACME account key and certificates (required with --acme-domains)")
	fs.StringVar(&f.acmeURL, "acme-directory-url", autocert.DefaultACMEDirectory, "the ACME CA's directory URL")
	fs.StringVar(&f.acmeEmail, "acme-email", "", "contact e-mail given to the ACME CA (optional)")
	return []string{"tls-cert", "tls-key", "tls-min-version", "tls-handshake-workers", "acme-domains", "acme-dir", "acme-directory-url", "acme-email"}
}

// tlsSetup is the node's TLS: its engine configuration, and what keeps
// the certificate current.
type tlsSetup struct {
	config *tls.Config
	certs  *certReloader      // --tls-cert
	acme   *autocert.Manager  // --acme-domains
	stop   context.CancelFunc // ends the reloader
}

// setup checks the flags and returns the node's TLS, or nil without TLS.
func (f *tlsFlags) setup(logger *slog.Logger) (*tlsSetup, error) {
	min := uint16(tls.VersionTLS12)
	switch f.minVersion {
	case "1.2":
	case "1.3":
		min = tls.VersionTLS13
	default:
		return nil, fmt.Errorf("--tls-min-version %q: want 1.2 or 1.3", f.minVersion)
	}
	files := f.cert != "" || f.key != ""
	switch {
	case files && f.acmeDomains != "":
		return nil, errors.New("--tls-cert and --acme-domains exclude each other")
	case files && (f.cert == "" || f.key == ""):
		return nil, errors.New("--tls-cert and --tls-key go together")
	case f.acmeDomains != "" && f.acmeDir == "":
		return nil, errors.New("--acme-domains needs --acme-dir, where the account key and certificates are kept")
	case !files && f.acmeDomains == "":
		return nil, nil
	}
	s := &tlsSetup{config: &tls.Config{MinVersion: min, NextProtos: []string{"http/1.1"}}}
	if files {
		r := &certReloader{certFile: f.cert, keyFile: f.key, logger: logger, check: make(chan struct{}, 1)}
		if err := r.load(); err != nil {
			return nil, err
		}
		s.certs = r
		s.config.GetCertificate = r.GetCertificate
		return s, nil
	}
	var domains []string
	for _, d := range strings.Split(f.acmeDomains, ",") {
		if d = strings.TrimSpace(d); d != "" {
			domains = append(domains, d)
		}
	}
	s.acme = &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(f.acmeDir),
		HostPolicy: autocert.HostWhitelist(domains...),
		Client:     &acme.Client{DirectoryURL: f.acmeURL},
		Email:      f.acmeEmail,
	}
	s.config.GetCertificate = s.acme.GetCertificate
	// TLS-ALPN-01 on this port: the CA's validation handshake asks for
	// "acme-tls/1", gets the challenge certificate, and is closed.
	s.config.NextProtos = append(s.config.NextProtos, acme.ALPNProto)
	logger.Info("TLS from ACME", "domains", domains, "directory", f.acmeURL, "cache", f.acmeDir)
	return s, nil
}

// start begins watching the certificate files: on SIGHUP, and when the
// timer sweep (loop 0's, at most once a second) finds them changed.
func (s *tlsSetup) start(srv *engine.Server) {
	if s == nil || s.certs == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	srv.HandleSweep(func(l *engine.Loop) {
		if l.Index() == 0 {
			s.certs.poke()
		}
	})
	go s.certs.run(ctx)
}

func (s *tlsSetup) close() {
	if s != nil && s.stop != nil {
		s.stop()
	}
}

// certReloader holds the certificate of --tls-cert/--tls-key and replaces
// it when asked (SIGHUP) or when the files change: connections keep their
// keys (only new handshakes see the new certificate), and a new file that
// does not load keeps the old certificate, logged and counted.
type certReloader struct {
	certFile, keyFile string
	logger            *slog.Logger
	cert              atomic.Pointer[tls.Certificate]
	seen              string        // the files' sizes and times as last loaded or tried
	check             chan struct{} // the sweep's poke: look at the files
	reloads, failures atomic.Int64
}

// GetCertificate is the handshakes' certificate: any goroutine.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// load reads the files and, if they hold a valid pair, makes it the
// certificate.
func (r *certReloader) load() error {
	r.seen = r.stamp()
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s, key %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert.Store(&c)
	r.logger.Info("TLS certificate loaded", "file", r.certFile, "subject", c.Leaf.Subject.String(),
		"names", c.Leaf.DNSNames, "not_after", c.Leaf.NotAfter.Format(time.RFC3339))
	return nil
}

// stamp is the files' identity as far as a change goes: sizes and times.
func (r *certReloader) stamp() string {
	var b strings.Builder
	for _, p := range []string{r.certFile, r.keyFile} {
		if fi, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%d/%d;", fi.Size(), fi.ModTime().UnixNano())
		} else {
			b.WriteString("missing;")
		}
	}
	return b.String()
}

// reload loads the files again; a failure keeps the certificate in use.
func (r *certReloader) reload(why string) {
	if err := r.load(); err != nil {
		r.failures.Add(1)
		r.logger.Error("TLS certificate not reloaded: keeping the one in use", "why", why, "err", err)
		return
	}
	r.reloads.Add(1)
}

// poke asks run to look at the files, without blocking (the sweep's).
func (r *certReloader) poke() {
	select {
	case r.check <- struct{}{}:
	default:
	}
}

// run reloads on SIGHUP and when the files change (a half-written pair
// fails to load and is tried again when the other file lands). The files
// are looked at here, never on a loop.
func (r *certReloader) run(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.reload("SIGHUP")
		case <-r.check:
			if r.stamp() != r.seen {
				r.reload("the files changed")
			}
		}
	}
}
