package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// keySet is a set of verification keys: the static ones (HMAC secret and
// PEM keys) or one fetch of a JWKS. Immutable once built, so Verify reads it
// without a lock.
type keySet struct {
	hmac  []byte
	byKid map[string]any // public keys by kid
	all   []any          // every public key, kid or not
}

func (ks *keySet) empty() bool { return ks.hmac == nil && len(ks.all) == 0 }

func (ks *keySet) add(kid string, key any) {
	if kid != "" {
		if ks.byKid == nil {
			ks.byKid = make(map[string]any)
		}
		ks.byKid[kid] = key
	}
	ks.all = append(ks.all, key)
}

// parsePEMKeys reads PEM public keys; a "kid" block header names one.
func parsePEMKeys(b []byte) (*keySet, error) {
	ks := &keySet{}
	for n := 1; ; n++ {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return ks, nil
		}
		var key any
		var err error
		switch blk.Type {
		case "PUBLIC KEY":
			key, err = x509.ParsePKIXPublicKey(blk.Bytes)
		case "RSA PUBLIC KEY":
			key, err = x509.ParsePKCS1PublicKey(blk.Bytes)
		default:
			return nil, fmt.Errorf("auth: public keys: PEM block %d is %q, want PUBLIC KEY or RSA PUBLIC KEY", n, blk.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("auth: public keys: PEM block %d: %w", n, err)
		}
		switch key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			return nil, fmt.Errorf("auth: public keys: PEM block %d: unsupported key type %T", n, key)
		}
		ks.add(blk.Headers["kid"], key)
	}
}

// keyFamily is the Go key type an algorithm verifies with.
func keyFamily(alg string) string {
	switch alg {
	case "HS256", "HS384", "HS512":
		return "hmac"
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		return "rsa"
	case "ES256", "ES384", "ES512":
		return "ec"
	case "EdDSA":
		return "ed25519"
	}
	return ""
}

func inFamily(key any, fam string) bool {
	switch key.(type) {
	case *rsa.PublicKey:
		return fam == "rsa"
	case *ecdsa.PublicKey:
		return fam == "ec"
	case ed25519.PublicKey:
		return fam == "ed25519"
	}
	return false
}

// methodsFor lists the algorithms a token may use: those whose key type is
// configured (all public-key ones with a JWKS, whose content changes). No
// "none", and no HMAC without a secret: an RSA public key is never taken
// as an HMAC secret (the algorithm-confusion attack).
func methodsFor(hmac bool, ks *keySet, jwks bool) []string {
	var m []string
	if hmac {
		m = append(m, "HS256", "HS384", "HS512")
	}
	has := map[string]bool{}
	for _, k := range ks.all {
		for _, f := range []string{"rsa", "ec", "ed25519"} {
			has[f] = has[f] || inFamily(k, f)
		}
	}
	if has["rsa"] || jwks {
		m = append(m, "RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
	}
	if has["ec"] || jwks {
		m = append(m, "ES256", "ES384", "ES512")
	}
	if has["ed25519"] || jwks {
		m = append(m, "EdDSA")
	}
	return m
}

// keyFor is the jwt Keyfunc: the key named by the token's kid, or, without
// a kid, every key of the algorithm's type.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	fam := keyFamily(t.Method.Alg())
	if fam == "hmac" {
		if v.static.hmac == nil {
			return nil, refused(ReasonUnknownKey, "no HMAC secret")
		}
		return v.static.hmac, nil
	}
	sets := []*keySet{v.static}
	if j := v.jwks.Load(); j != nil {
		sets = append(sets, j)
	}
	if kid, ok := t.Header["kid"].(string); ok && kid != "" {
		for _, ks := range sets {
			if k, ok := ks.byKid[kid]; ok {
				if !inFamily(k, fam) {
					return nil, refused(ReasonUnknownKey, "kid names a key of another type")
				}
				return k, nil
			}
		}
		return nil, refused(ReasonUnknownKey, "no key with this kid")
	}
	var keys []jwt.VerificationKey
	for _, ks := range sets {
		for _, k := range ks.all {
			if inFamily(k, fam) {
				keys = append(keys, k)
			}
		}
	}
	if len(keys) == 0 {
		return nil, refused(ReasonUnknownKey, "no key of the token's type")
	}
	if len(keys) == 1 {
		return keys[0], nil
	}
	return jwt.VerificationKeySet{Keys: keys}, nil
}
