package auth

import (
	"crypto"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestEveryAlgorithm(t *testing.T) {
	k := getKeys(t)
	now := t0
	pems := append(append(pemOf(t, "r1", &k.rsa1.PublicKey), pemOf(t, "e1", &k.ec.PublicKey)...), pemOf(t, "d1", k.ed.Public())...)
	v := newVerifier(t, Config{HMACSecret: secret, PublicKeys: pems}, &now)
	tests := []struct {
		alg, kid string
		key      any
	}{
		{"HS256", "", secret}, {"HS384", "", secret}, {"HS512", "", secret},
		{"RS256", "r1", k.rsa1}, {"RS256", "", k.rsa1}, {"RS512", "r1", k.rsa1},
		{"PS256", "r1", k.rsa1},
		{"ES256", "e1", k.ec}, {"ES256", "", k.ec},
		{"EdDSA", "d1", k.ed}, {"EdDSA", "", k.ed},
	}
	for _, tt := range tests {
		t.Run(tt.alg+"/"+tt.kid, func(t *testing.T) {
			id, err := v.Verify(sign(t, tt.alg, tt.kid, tt.key, claimsFor("alice")))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if id.Subject != "alice" || id.Name != "alice" || id.Expires != t0.Add(time.Hour).UnixNano() {
				t.Fatalf("identity %+v", id)
			}
		})
	}
	if n := v.Stats().Verified.Load(); n != int64(len(tests)) {
		t.Fatalf("Verified = %d, want %d", n, len(tests))
	}
}

func TestRefusalReasons(t *testing.T) {
	k := getKeys(t)
	now := t0
	v := newVerifier(t, Config{HMACSecret: secret, PublicKeys: pemOf(t, "r1", &k.rsa1.PublicKey),
		Issuer: "https://app.example", Audience: "chat", ValidName: func(s string) bool { return !strings.ContainsAny(s, " /") }}, &now)
	good := func() jwt.MapClaims {
		c := claimsFor("alice")
		c["iss"], c["aud"] = "https://app.example", []string{"chat", "other"}
		return c
	}
	with := func(k string, val any) jwt.MapClaims {
		c := good()
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return c
	}
	hs := func(c jwt.MapClaims) string { return sign(t, "HS256", "", secret, c) }
	if _, err := v.Verify(hs(good())); err != nil {
		t.Fatalf("the good token: %v", err)
	}
	otherSecret := []byte(strings.Repeat("x", 32))
	tests := []struct {
		name  string
		token string
		want  Reason
	}{
		{"missing", "", ReasonMissing},
		{"malformed", "not.a.jwt", ReasonMalformed},
		{"two segments", "abc.def", ReasonMalformed},
		{"claims not JSON", "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln", ReasonMalformed},
		{"bad signature", sign(t, "HS256", "", otherSecret, good()), ReasonBadSignature},
		{"bad RSA signature", sign(t, "RS256", "r1", k.rsa2, good()), ReasonBadSignature},
		{"alg none", sign(t, "none", "", jwt.UnsafeAllowNoneSignatureType, good()), ReasonBadSignature},
		{"alg not configured (ES256)", sign(t, "ES256", "", k.ec, good()), ReasonBadSignature},
		{"expired", hs(with("exp", t0.Add(-time.Minute).Unix())), ReasonExpired},
		{"not yet valid", hs(with("nbf", t0.Add(time.Minute).Unix())), ReasonNotYetValid},
		{"wrong issuer", hs(with("iss", "https://evil.example")), ReasonWrongIssuer},
		{"no issuer", hs(with("iss", nil)), ReasonWrongIssuer},
		{"wrong audience", hs(with("aud", "else")), ReasonWrongAudience},
		{"unknown kid", sign(t, "RS256", "r9", k.rsa1, good()), ReasonUnknownKey},
		{"no sub", hs(with("sub", nil)), ReasonBadClaims},
		{"invalid name", hs(with("name", "a b")), ReasonBadClaims},
		{"invalid rooms entry", hs(with("rooms", []string{"ok", "../x*"})), ReasonBadClaims},
		{"rooms of the wrong type", hs(with("rooms", 5)), ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(tt.token)
			wantReason(t, err, tt.want)
			if tt.token != "" && strings.Contains(err.Error(), tt.token) {
				t.Fatalf("error %q quotes the token", err)
			}
		})
	}
	for _, r := range []Reason{ReasonMissing, ReasonMalformed, ReasonBadSignature, ReasonExpired, ReasonNotYetValid,
		ReasonWrongIssuer, ReasonWrongAudience, ReasonUnknownKey, ReasonBadClaims} {
		if v.Stats().Refused[r].Load() == 0 {
			t.Errorf("Stats.Refused[%v] = 0", r)
		}
	}
}

func TestHMACOnlyRefusesPublicKeyTokens(t *testing.T) {
	k := getKeys(t)
	now := t0
	v := newVerifier(t, Config{HMACSecret: secret}, &now)
	_, err := v.Verify(sign(t, "RS256", "", k.rsa1, claimsFor("a")))
	wantReason(t, err, ReasonBadSignature)
	v2 := newVerifier(t, Config{PublicKeys: pemOf(t, "", &k.rsa1.PublicKey)}, &now)
	_, err = v2.Verify(sign(t, "HS256", "", secret, claimsFor("a")))
	wantReason(t, err, ReasonBadSignature)
}

func TestLeeway(t *testing.T) {
	now := t0
	exp := func(d time.Duration) string {
		c := claimsFor("a")
		c["exp"] = t0.Add(d).Unix()
		return sign(t, "HS256", "", secret, c)
	}
	nbf := func(d time.Duration) string {
		c := claimsFor("a")
		c["nbf"] = t0.Add(d).Unix()
		return sign(t, "HS256", "", secret, c)
	}
	def := newVerifier(t, Config{HMACSecret: secret}, &now) // DefaultLeeway: 5s
	none := newVerifier(t, Config{HMACSecret: secret, Leeway: -1}, &now)
	if _, err := def.Verify(exp(-3 * time.Second)); err != nil {
		t.Fatalf("expired 3s ago, within the 5s leeway: %v", err)
	}
	_, err := def.Verify(exp(-10 * time.Second))
	wantReason(t, err, ReasonExpired)
	_, err = none.Verify(exp(-3 * time.Second))
	wantReason(t, err, ReasonExpired)
	if _, err := def.Verify(nbf(3 * time.Second)); err != nil {
		t.Fatalf("valid in 3s, within the leeway: %v", err)
	}
	_, err = def.Verify(nbf(10 * time.Second))
	wantReason(t, err, ReasonNotYetValid)
	_, err = none.Verify(nbf(3 * time.Second))
	wantReason(t, err, ReasonNotYetValid)
	// The clock moves: the same token expires.
	tok := exp(time.Minute)
	if _, err := def.Verify(tok); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(time.Minute + 6*time.Second)
	_, err = def.Verify(tok)
	wantReason(t, err, ReasonExpired)
}

func TestKidRotation(t *testing.T) {
	k := getKeys(t)
	now := t0
	// During a rotation both keys are configured; tokens name theirs.
	pems := append(pemOf(t, "2026-01", &k.rsa1.PublicKey), pemOf(t, "2026-02", &k.rsa2.PublicKey)...)
	v := newVerifier(t, Config{PublicKeys: pems}, &now)
	for _, tc := range []struct {
		kid string
		key any
	}{{"2026-01", k.rsa1}, {"2026-02", k.rsa2}} {
		if _, err := v.Verify(sign(t, "RS256", tc.kid, tc.key, claimsFor("a"))); err != nil {
			t.Fatalf("kid %s: %v", tc.kid, err)
		}
	}
	// A token whose kid names the other key does not verify.
	_, err := v.Verify(sign(t, "RS256", "2026-01", k.rsa2, claimsFor("a")))
	wantReason(t, err, ReasonBadSignature)
	// Without a kid, every RSA key is tried.
	if _, err := v.Verify(sign(t, "RS256", "", k.rsa2, claimsFor("a"))); err != nil {
		t.Fatalf("no kid: %v", err)
	}
	// After the rotation the old key is gone.
	v2 := newVerifier(t, Config{PublicKeys: pemOf(t, "2026-02", &k.rsa2.PublicKey)}, &now)
	_, err = v2.Verify(sign(t, "RS256", "2026-01", k.rsa1, claimsFor("a")))
	wantReason(t, err, ReasonUnknownKey)
}

func TestJWKS(t *testing.T) {
	k := getKeys(t)
	now := t0
	var doc atomic.Pointer[[]byte]
	var fail atomic.Bool
	set := func(kids []string, pubs ...crypto.PublicKey) {
		b := jwkJSON(t, kids, pubs)
		doc.Store(&b)
	}
	set([]string{"a", "e", "d"}, &k.rsa1.PublicKey, &k.ec.PublicKey, k.ed.Public())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if fail.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(*doc.Load())
	}))
	t.Cleanup(srv.Close)
	v := newVerifier(t, Config{JWKSURL: srv.URL, JWKSRefresh: time.Hour}, &now)
	for _, tc := range []struct {
		alg, kid string
		key      any
	}{{"RS256", "a", k.rsa1}, {"PS256", "a", k.rsa1}, {"ES256", "e", k.ec}, {"EdDSA", "d", k.ed}} {
		if _, err := v.Verify(sign(t, tc.alg, tc.kid, tc.key, claimsFor("a"))); err != nil {
			t.Fatalf("%s from the JWKS: %v", tc.alg, err)
		}
	}
	tokB := sign(t, "RS256", "b", k.rsa2, claimsFor("a"))
	_, err := v.Verify(tokB)
	wantReason(t, err, ReasonUnknownKey)

	// The IdP rotates: key b appears at the next refresh.
	set([]string{"a", "b"}, &k.rsa1.PublicKey, &k.rsa2.PublicKey)
	if err := v.Refresh(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tokB); err != nil {
		t.Fatalf("key b after the refresh: %v", err)
	}
	// A failed refresh keeps the last good set, and is counted.
	fail.Store(true)
	if err := v.Refresh(); err == nil {
		t.Fatal("refresh from a failing server succeeded")
	}
	if _, err := v.Verify(tokB); err != nil {
		t.Fatalf("key b after a failed refresh: %v", err)
	}
	// So does a document without a usable key.
	fail.Store(false)
	empty := []byte(`{"keys":[{"kty":"RSA","use":"enc","kid":"x","n":"AQAB","e":"AQAB"}]}`)
	doc.Store(&empty)
	if err := v.Refresh(); err == nil {
		t.Fatal("a JWKS without signing keys replaced the set")
	}
	if _, err := v.Verify(tokB); err != nil {
		t.Fatalf("key b after a useless JWKS: %v", err)
	}
	if f, s := v.Stats().JWKSFailures.Load(), v.Stats().JWKSFetches.Load(); f != 2 || s != 2 {
		t.Fatalf("JWKS failures %d fetches %d, want 2 and 2", f, s)
	}
}

func TestJWKSBackgroundRefresh(t *testing.T) {
	k := getKeys(t)
	now := t0
	var hits atomic.Int64
	body := jwkJSON(t, []string{"a"}, []crypto.PublicKey{&k.rsa1.PublicKey})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if hits.Add(1) > 1 {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	v := newVerifier(t, Config{JWKSURL: srv.URL, JWKSRefresh: 10 * time.Millisecond}, &now)
	deadline := time.Now().Add(5 * time.Second)
	for v.Stats().JWKSFailures.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no background refresh failures counted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := v.Verify(sign(t, "RS256", "a", k.rsa1, claimsFor("a"))); err != nil {
		t.Fatalf("after failed background refreshes: %v", err)
	}
	v.Close()
	n := hits.Load()
	time.Sleep(30 * time.Millisecond) // Close stopped the refresh: no more fetches
	if hits.Load() != n {
		t.Fatal("the refresh goroutine survived Close")
	}
}

func TestNewErrors(t *testing.T) {
	k := getKeys(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no keys", Config{Mode: Required}, "no keys"},
		{"short secret", Config{Mode: Required, HMACSecret: []byte("short")}, "at least 32"},
		{"private key PEM", Config{Mode: Required, PublicKeys: pem2(t, k)}, "PEM block 1"},
		{"JWKS down at start", Config{Mode: Required, JWKSURL: srv.URL}, "HTTP 404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "auth: ") {
				t.Fatalf("New: %v, want an error about %q", err, tc.want)
			}
		})
	}
}

func pem2(t testing.TB, k *testKeys) []byte {
	b := pemOf(t, "", &k.rsa1.PublicKey)
	return []byte(strings.Replace(string(b), "PUBLIC KEY", "RSA PRIVATE KEY", 2))
}

func TestMayJoin(t *testing.T) {
	id := &Identity{Rooms: []string{"lobby", "Team-*", "dev"}}
	for room, want := range map[string]bool{"lobby": true, "dev": true, "team-red": true, "team-": true, "games": false, "devops": false} {
		if got := id.MayJoin(room); got != want {
			t.Errorf("MayJoin(%q) = %v, want %v", room, got, want)
		}
	}
	if !(&Identity{}).MayJoin("anything") {
		t.Error("no rooms claim must allow any room")
	}
	if !(&Identity{Rooms: []string{"*"}}).MayJoin("x") {
		t.Error(`"*" must allow any room`)
	}
	if (&Identity{Rooms: []string{}}).MayJoin("x") {
		t.Error("an empty rooms claim must allow none")
	}
}

func TestTokenFrom(t *testing.T) {
	tests := []struct {
		name, query, authz, want string
		bad                      bool
	}{
		{"none", "name=a", "", "", false},
		{"query", "name=a&token=abc.def.ghi", "", "abc.def.ghi", false},
		{"query escaped", "token=a%2Eb", "", "a.b", false},
		{"header", "", "Bearer abc.def.ghi", "abc.def.ghi", false},
		{"header case", "", "bearer  abc ", "abc", false},
		{"basic is not a token", "", "Basic dXNlcjpwdw==", "", false},
		{"twice", "token=a&token=b", "", "", true},
		{"empty", "token=", "", "", true},
		{"bearer empty", "", "Bearer ", "", true},
		{"both places", "token=a", "Bearer b", "", true},
		{"bad query", "token=%zz", "", "", true},
		{"similar name", "mytoken=a", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := TokenFrom(tt.query, tt.authz)
			if tt.bad {
				wantReason(t, err, ReasonMalformed)
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("TokenFrom = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestWithoutToken(t *testing.T) {
	for in, want := range map[string]string{
		"":                            "",
		"token=abc":                   "",
		"name=a&token=abc":            "name=a",
		"token=abc&name=a&room=b":     "name=a&room=b",
		"token=a&token=b&x=1":         "x=1",
		"mytoken=a&name=b":            "mytoken=a&name=b",
		"name=a&&token=x&tokens=keep": "name=a&tokens=keep",
		"%74oken=x&a=1":               "a=1",
	} {
		if got := WithoutToken(in); got != want {
			t.Errorf("WithoutToken(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	k := getKeys(b)
	now := t0
	pems := append(append(pemOf(b, "r1", &k.rsa1.PublicKey), pemOf(b, "e1", &k.ec.PublicKey)...), pemOf(b, "d1", k.ed.Public())...)
	v := newVerifier(b, Config{HMACSecret: secret, PublicKeys: pems}, &now)
	for _, tc := range []struct {
		alg, kid string
		key      any
	}{{"HS256", "", secret}, {"RS256", "r1", k.rsa1}, {"PS256", "r1", k.rsa1}, {"ES256", "e1", k.ec}, {"EdDSA", "d1", k.ed}} {
		tok := sign(b, tc.alg, tc.kid, tc.key, claimsFor("alice"))
		b.Run(tc.alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// An exp beyond what Unix nanoseconds hold (after 2262) is clamped, not
// overflowed into the past: the token is valid and expires "never".
func TestExpiresClamped(t *testing.T) {
	now := t0
	v := newVerifier(t, Config{HMACSecret: secret}, &now)
	for _, year := range []int{2263, 3000, 9999} {
		c := claimsFor("a")
		c["exp"] = time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
		id, err := v.Verify(sign(t, "HS256", "", secret, c))
		if err != nil {
			t.Fatalf("exp in %d: %v", year, err)
		}
		if id.Expires != math.MaxInt64 {
			t.Fatalf("exp in %d: Expires = %d, want math.MaxInt64", year, id.Expires)
		}
	}
	id, err := v.Verify(sign(t, "HS256", "", secret, claimsFor("a")))
	if err != nil || id.Expires != t0.Add(time.Hour).UnixNano() {
		t.Fatalf("an ordinary exp: %v, %d", err, id.Expires)
	}
}

// A token without exp is refused (ReasonMissingExp) unless AllowNoExp,
// whatever its key: an HMAC secret, a PEM public key or a JWKS.
func TestMissingExp(t *testing.T) {
	k := getKeys(t)
	now := t0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(jwkJSON(t, []string{"j1"}, []crypto.PublicKey{k.ec.Public()}))
	}))
	defer srv.Close()
	noExp := claimsFor("alice")
	delete(noExp, "exp")
	tokens := map[string]string{
		"HS256 secret":    sign(t, "HS256", "", secret, noExp),
		"RS256 PEM":       sign(t, "RS256", "r1", k.rsa1, noExp),
		"ES256 from JWKS": sign(t, "ES256", "j1", k.ec, noExp),
	}
	for _, allow := range []bool{false, true} {
		v := newVerifier(t, Config{HMACSecret: secret, PublicKeys: pemOf(t, "r1", &k.rsa1.PublicKey), JWKSURL: srv.URL, AllowNoExp: allow}, &now)
		for name, tok := range tokens {
			id, err := v.Verify(tok)
			if !allow {
				wantReason(t, err, ReasonMissingExp)
				if got := err.Error(); got != "auth: token without exp" {
					t.Fatalf("%s: error %q", name, got)
				}
				continue
			}
			if err != nil || id.Expires != 0 {
				t.Fatalf("%s with AllowNoExp: %+v %v, want an identity that never expires", name, id, err)
			}
		}
		if got, want := v.Stats().Refused[ReasonMissingExp].Load(), map[bool]int64{false: 3, true: 0}[allow]; got != want {
			t.Fatalf("AllowNoExp %v: Refused[missing_exp] = %d, want %d", allow, got, want)
		}
	}
}

// MaxTTL bounds exp - iat, or exp - now without an iat, with the leeway
// on now; an iat in the future does not shorten the lifetime.
func TestMaxTTL(t *testing.T) {
	k := getKeys(t)
	now := t0
	v := newVerifier(t, Config{HMACSecret: secret, PublicKeys: pemOf(t, "r1", &k.rsa1.PublicKey), MaxTTL: time.Hour, Leeway: 5 * time.Second}, &now)
	tok := func(alg string, iat, exp time.Duration, hasIat bool) string {
		c := jwt.MapClaims{"sub": "a", "exp": t0.Add(exp).Unix()}
		if hasIat {
			c["iat"] = t0.Add(iat).Unix()
		}
		if alg == "RS256" {
			return sign(t, alg, "r1", k.rsa1, c)
		}
		return sign(t, alg, "", secret, c)
	}
	tests := []struct {
		name     string
		iat, exp time.Duration
		hasIat   bool
		ok       bool
	}{
		{"iat, exactly the bound", -10 * time.Minute, 50 * time.Minute, true, true},
		{"iat, a second over", -10 * time.Minute, 50*time.Minute + time.Second, true, false},
		{"iat long ago, a day", -23 * time.Hour, time.Hour, true, false},
		{"no iat, exactly the bound plus leeway", 0, time.Hour + 5*time.Second, false, true},
		{"no iat, a second over", 0, time.Hour + 6*time.Second, false, false},
		{"iat within the leeway ahead", 3 * time.Second, time.Hour + 3*time.Second, true, true},
		{"iat far ahead", 24 * time.Hour, 25 * time.Hour, true, false},
	}
	for _, alg := range []string{"HS256", "RS256"} {
		for _, tt := range tests {
			t.Run(alg+"/"+tt.name, func(t *testing.T) {
				_, err := v.Verify(tok(alg, tt.iat, tt.exp, tt.hasIat))
				if tt.ok {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					return
				}
				wantReason(t, err, ReasonTTLTooLong)
			})
		}
	}
	// Without MaxTTL, any lifetime.
	v0 := newVerifier(t, Config{HMACSecret: secret}, &now)
	if _, err := v0.Verify(tok("HS256", -23*time.Hour, 24*365*time.Hour, true)); err != nil {
		t.Fatalf("no MaxTTL: %v", err)
	}
}
