package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"time"
)

// maxJWKSBytes bounds a JWKS document (a few keys take a few KB).
const maxJWKSBytes = 1 << 20

// jwk is one JSON Web Key (RFC 7517), the public members only.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// refreshLoop fetches the JWKS every JWKSRefresh until Close. It is the
// only goroutine the package starts; no event loop ever waits for it.
func (v *Verifier) refreshLoop() {
	defer v.wg.Done()
	t := time.NewTicker(v.cfg.JWKSRefresh)
	defer t.Stop()
	for {
		select {
		case <-v.stop:
			return
		case <-t.C:
			if err := v.fetchJWKS(); err != nil {
				v.cfg.Logger.Warn("JWKS refresh failed; keeping the last good key set", "url", v.cfg.JWKSURL, "err", err)
			}
		}
	}
}

// Refresh fetches the JWKS now (as the background refresh does), keeping
// the last good set if it fails.
func (v *Verifier) Refresh() error { return v.fetchJWKS() }

func (v *Verifier) fetchJWKS() error {
	ks, err := v.getJWKS()
	if err != nil {
		v.stats.JWKSFailures.Add(1)
		return err
	}
	v.jwks.Store(ks)
	v.stats.JWKSFetches.Add(1)
	return nil
}

func (v *Verifier) getJWKS() (*keySet, error) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultJWKSTimeout)
	defer cancel()
	go func() { // Close cuts a fetch short
		select {
		case <-v.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, "GET", v.cfg.JWKSURL, nil)
	if err != nil {
		return nil, fmt.Errorf("auth: JWKS: %w", err)
	}
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("auth: JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("auth: JWKS: HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("auth: JWKS: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("auth: JWKS: over %d bytes", maxJWKSBytes)
	}
	return parseJWKS(body)
}

// parseJWKS reads a JWKS document. Keys of unknown types, or not for
// signatures, are skipped; a set with no usable key is an error (a broken
// document must not replace a good set).
func parseJWKS(b []byte) (*keySet, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("auth: JWKS: %w", err)
	}
	ks := &keySet{}
	for i, k := range doc.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		key, err := k.publicKey()
		if err != nil {
			return nil, fmt.Errorf("auth: JWKS key %d (kid %q): %w", i, k.Kid, err)
		}
		if key != nil {
			ks.add(k.Kid, key)
		}
	}
	if len(ks.all) == 0 {
		return nil, errors.New("auth: JWKS: no usable signing key")
	}
	return ks, nil
}

var b64 = base64.RawURLEncoding

func (k *jwk) publicKey() (any, error) {
	switch k.Kty {
	case "RSA":
		n, err1 := b64.DecodeString(k.N)
		e, err2 := b64.DecodeString(k.E)
		if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("bad RSA n or e")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("unsupported curve %q", k.Crv)
		}
		x, err1 := b64.DecodeString(k.X)
		y, err2 := b64.DecodeString(k.Y)
		size := (curve.Params().BitSize + 7) / 8
		if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
			return nil, errors.New("bad EC x or y")
		}
		// Parse through the uncompressed point encoding: it checks that
		// the point is on the curve.
		pt := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, pt)
		if err != nil {
			return nil, err
		}
		return pub, nil
	case "OKP":
		if k.Crv != "Ed25519" {
			return nil, fmt.Errorf("unsupported curve %q", k.Crv)
		}
		x, err := b64.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad Ed25519 x")
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, nil // unknown kty: skipped
}
