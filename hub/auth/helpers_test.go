package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testKeys are generated once per test binary: RSA generation is slow.
type testKeys struct {
	rsa1, rsa2 *rsa.PrivateKey
	ec         *ecdsa.PrivateKey
	ed         ed25519.PrivateKey
}

var (
	keysOnce sync.Once
	keys     testKeys
)

func getKeys(t testing.TB) *testKeys {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if keys.rsa1, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if keys.rsa2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if keys.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if _, keys.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	})
	return &keys
}

var secret = []byte("0123456789abcdef0123456789abcdef") // 32 bytes

// t0 is the fake clock's time in most tests.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// pemOf encodes a public key as PEM, with a kid header if kid is set.
func pemOf(t testing.TB, kid string, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	blk := &pem.Block{Type: "PUBLIC KEY", Bytes: der}
	if kid != "" {
		blk.Headers = map[string]string{"kid": kid}
	}
	return pem.EncodeToMemory(blk)
}

// sign makes a token with alg, signed by key, with kid if set.
func sign(t testing.TB, alg, kid string, key any, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// claimsFor is a valid claim set for sub at t0, expiring an hour later.
func claimsFor(sub string) jwt.MapClaims {
	return jwt.MapClaims{"sub": sub, "exp": t0.Add(time.Hour).Unix(), "iat": t0.Unix()}
}

// jwkJSON encodes public keys as a JWKS document.
func jwkJSON(t testing.TB, kids []string, pubs []crypto.PublicKey) []byte {
	t.Helper()
	b64u := func(b []byte) string { return b64.EncodeToString(b) }
	var ks []map[string]string
	for i, p := range pubs {
		m := map[string]string{"kid": kids[i], "use": "sig"}
		switch k := p.(type) {
		case *rsa.PublicKey:
			m["kty"], m["n"], m["e"] = "RSA", b64u(k.N.Bytes()), b64u(big.NewInt(int64(k.E)).Bytes())
		case *ecdsa.PublicKey:
			raw, err := k.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			m["kty"], m["crv"], m["x"], m["y"] = "EC", "P-256", b64u(raw[1:33]), b64u(raw[33:])
		case ed25519.PublicKey:
			m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", b64u(k)
		}
		ks = append(ks, m)
	}
	b, err := json.Marshal(map[string]any{"keys": ks})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newVerifier is New with the fake clock at *now.
func newVerifier(t testing.TB, cfg Config, now *time.Time) *Verifier {
	t.Helper()
	if cfg.Mode == Off {
		cfg.Mode = Required
	}
	cfg.Now = func() time.Time { return *now }
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// wantReason checks that err is an *Error with reason r.
func wantReason(t testing.TB, err error, r Reason) {
	t.Helper()
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("err = %v (%T), want reason %v", err, err, r)
	}
	if e.Reason != r {
		t.Fatalf("reason = %v (%v), want %v", e.Reason, e, r)
	}
}
