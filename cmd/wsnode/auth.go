package main

import (
	"bytes"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"

	"edgews/engine"
	"edgews/hub"
	"edgews/hub/auth"
)

// authFlags are the --auth-* flags.
type authFlags struct {
	mode, secretFile, keysFile, jwksURL, issuer, audience string
	jwksRefresh, leeway, nameHold, maxTTL                 time.Duration
	allowNoExp                                            bool
}

// addAuthFlags registers the --auth-* flags and returns their names, for
// the Authentication group of --help. --auth-workers sets the engine's
// UpgradeWorkers.
func addAuthFlags(fs *flag.FlagSet, a *authFlags, e *engine.Config) []string {
	fs.StringVar(&a.mode, "auth", "off", "connect tokens (JWT): off, optional (anonymous without a token) or required")
	fs.StringVar(&a.secretFile, "auth-hmac-secret-file", "", "file holding the HS256/384/512 secret (at least 32 bytes; surrounding whitespace is trimmed)")
	fs.StringVar(&a.keysFile, "auth-public-keys", "", "PEM file of RS256/PS256/ES256/EdDSA public keys; a \"kid: NAME\" block header names a key")
	fs.StringVar(&a.jwksURL, "auth-jwks-url", "", "JWKS URL fetched at start and refreshed in the background")
	fs.DurationVar(&a.jwksRefresh, "auth-jwks-refresh", auth.DefaultJWKSRefresh, "how often --auth-jwks-url is fetched again (a failure keeps the last good keys)")
	fs.StringVar(&a.issuer, "auth-issuer", "", "required iss claim (empty = not checked)")
	fs.StringVar(&a.audience, "auth-audience", "", "required aud claim (empty = not checked)")
	fs.DurationVar(&a.leeway, "auth-leeway", auth.DefaultLeeway, "clock skew allowed on exp and nbf")
	fs.BoolVar(&a.allowNoExp, "auth-allow-no-exp", false, "accept tokens without an exp claim, which never expire (refused by default: a leaked one would stay valid for good)")
	fs.DurationVar(&a.maxTTL, "auth-max-ttl", 0, "refuse tokens valid for longer than this: exp - iat, or exp - now without iat (0 = any lifetime)")
	fs.IntVar(&e.UpgradeWorkers, "auth-workers", -1, "verify tokens on this many goroutines off the event loops (0 = on the loops; -1 = one per core with public keys or a JWKS, on the loops with an HMAC secret only)")
	fs.DurationVar(&a.nameHold, "auth-name-hold", hub.DefaultAuthNameHold, "with --auth optional, how long a name a token used stays reserved from anonymous users after the token's last use (0 = only while connected)")
	return []string{"auth", "auth-hmac-secret-file", "auth-public-keys", "auth-jwks-url", "auth-jwks-refresh", "auth-issuer", "auth-audience", "auth-leeway", "auth-allow-no-exp", "auth-max-ttl", "auth-workers", "auth-name-hold"}
}

// nameHoldConfig is --auth-name-hold as hub.Config.AuthNameHold: 0
// (none) is negative there, where zero means the default.
func (a *authFlags) nameHoldConfig() time.Duration {
	if a.nameHold <= 0 {
		return -1
	}
	return a.nameHold
}

// upgradeWorkers resolves --auth-workers -1 (auto): an RS256/ES256/EdDSA
// signature takes 100-200µs to verify, long enough that a connect storm
// verified on the loops raised the echo p99 of connected users (README,
// Authentication: measured with make bench-auth), so public-key tokens are
// verified off the loops; an HMAC takes about 10µs, less than handing the
// request to a worker and back.
func (a *authFlags) upgradeWorkers(n int) int {
	if n >= 0 {
		return n
	}
	if mode, _ := auth.ParseMode(a.mode); mode != auth.Off && (a.keysFile != "" || a.jwksURL != "") {
		return runtime.NumCPU()
	}
	return 0
}

// verifier builds the token verifier, or nil with --auth off.
func (a *authFlags) verifier(logger *slog.Logger) (*auth.Verifier, error) {
	mode, err := auth.ParseMode(a.mode)
	if err != nil || mode == auth.Off {
		return nil, err
	}
	if a.maxTTL < 0 {
		return nil, fmt.Errorf("--auth-max-ttl %v: must not be negative (0 = any lifetime)", a.maxTTL)
	}
	cfg := auth.Config{Mode: mode, JWKSURL: a.jwksURL, JWKSRefresh: a.jwksRefresh, Issuer: a.issuer,
		Audience: a.audience, Leeway: a.leeway, AllowNoExp: a.allowNoExp, MaxTTL: a.maxTTL, ValidName: hub.ValidName, Logger: logger}
	if a.leeway == 0 {
		cfg.Leeway = -1 // --auth-leeway 0 means none
	}
	if a.secretFile != "" {
		if cfg.HMACSecret, err = readSecret(a.secretFile); err != nil {
			return nil, err
		}
	}
	if a.keysFile != "" {
		if cfg.PublicKeys, err = os.ReadFile(a.keysFile); err != nil {
			return nil, fmt.Errorf("--auth-public-keys: %w", err)
		}
	}
	return auth.New(cfg)
}

// readSecret reads an HMAC secret file, without the whitespace around it
// (a trailing newline from echo or an editor is not part of the secret).
func readSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("HMAC secret: %w", err)
	}
	return bytes.TrimSpace(b), nil
}
