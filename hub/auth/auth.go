package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Mode says whether connections need a token.
type Mode uint8

const (
	Off      Mode = iota // tokens are ignored; everyone is anonymous (the default)
	Optional             // no token: anonymous; a token: verified, refused if invalid
	Required             // every connection needs a valid token
)

// ParseMode reads "off", "optional" or "required".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "off", "":
		return Off, nil
	case "optional":
		return Optional, nil
	case "required":
		return Required, nil
	}
	return Off, fmt.Errorf("auth: mode %q: want off, optional or required", s)
}

func (m Mode) String() string { return [...]string{"off", "optional", "required"}[m] }

// Defaults used for the zero fields of Config.
const (
	DefaultLeeway       = 5 * time.Second
	DefaultJWKSRefresh  = 10 * time.Minute
	DefaultJWKSTimeout  = 10 * time.Second
	MinHMACSecretLength = 32 // bytes: shorter secrets are refused (RFC 7518 section 3.2 asks for 256 bits for HS256)
)

// Config configures a Verifier. At least one of HMACSecret, PublicKeys and
// JWKSURL must be set unless Mode is Off.
type Config struct {
	// Mode is Off, Optional or Required. If zero, Off: New returns a
	// Verifier that the hub does not consult.
	Mode Mode
	// HMACSecret verifies HS256, HS384 and HS512 tokens. If nil, HMAC tokens
	// are refused (unknown key).
	HMACSecret []byte
	// PublicKeys holds PEM public keys ("PUBLIC KEY" or "RSA PUBLIC KEY"
	// blocks): RSA keys verify RS256/384/512 and PS256/384/512, EC keys
	// ES256/384/512, Ed25519 keys EdDSA. A block header "kid: NAME" names the
	// key; a token with a kid is checked with that key only, a token without
	// one with every key of its type. If nil, none.
	PublicKeys []byte
	// JWKSURL is a JSON Web Key Set fetched by New and refreshed every
	// JWKSRefresh in the background; a failed refresh keeps the last good
	// set (logged, and counted in Stats). If empty, none.
	JWKSURL string
	// JWKSRefresh is how often JWKSURL is fetched again. If zero,
	// DefaultJWKSRefresh.
	JWKSRefresh time.Duration
	// HTTPClient fetches JWKSURL. If nil, a client with DefaultJWKSTimeout.
	HTTPClient *http.Client
	// Issuer, if not empty, must equal the token's iss.
	Issuer string
	// Audience, if not empty, must be among the token's aud.
	Audience string
	// Leeway is the clock skew allowed on exp and nbf. If zero,
	// DefaultLeeway; negative means none.
	Leeway time.Duration
	// AllowNoExp accepts tokens without an exp claim, which never expire
	// (a leaked one stays valid for good). If false, they are refused
	// (ReasonMissingExp).
	AllowNoExp bool
	// MaxTTL, if positive, refuses tokens valid for longer
	// (ReasonTTLTooLong): exp - iat, or exp - now when there is no iat.
	// Leeway applies as on exp: the start of the lifetime is iat, or
	// now + Leeway if that is earlier (or if there is no iat), so that an
	// iat in the future does not shorten the lifetime a token declares. If
	// zero, any lifetime.
	MaxTTL time.Duration
	// ValidName checks the user's name (the name claim, else sub); a name it
	// refuses refuses the token (ReasonBadClaims). It also checks each rooms
	// entry without its trailing '*'. If nil, any non-empty name passes.
	ValidName func(string) bool
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
	// Logger receives JWKS refresh failures at warn. Tokens are never
	// logged. If nil, logs are discarded.
	Logger *slog.Logger
}

// Identity is who a valid token says the user is. It is immutable.
type Identity struct {
	Subject string   // sub
	Name    string   // name claim, else sub
	Nick    bool     // may change names
	Rooms   []string // allowed rooms and '*'-suffixed prefixes; nil: any
	Expires int64    // exp in Unix nanoseconds, clamped to the int64 range (math.MaxInt64 after 2262); 0: never (no exp, with Config.AllowNoExp)
}

// MayJoin reports whether the rooms claim lets the user join room
// (lower-case, as the hub keeps room names).
func (id *Identity) MayJoin(room string) bool {
	if id.Rooms == nil {
		return true
	}
	for _, r := range id.Rooms {
		if p, ok := strings.CutSuffix(r, "*"); ok {
			if strings.HasPrefix(room, strings.ToLower(p)) {
				return true
			}
		} else if strings.EqualFold(r, room) {
			return true
		}
	}
	return false
}

// Stats are a Verifier's counters.
type Stats struct {
	Verified     atomic.Int64             // tokens accepted
	Refused      [NumReasons]atomic.Int64 // tokens refused, by reason
	JWKSFetches  atomic.Int64             // successful JWKS fetches
	JWKSFailures atomic.Int64             // failed JWKS fetches (the last good set was kept)
}

// Verifier checks tokens. Verify is safe from any goroutine.
type Verifier struct {
	cfg     Config
	parser  *jwt.Parser
	static  *keySet                // HMACSecret and PublicKeys
	jwks    atomic.Pointer[keySet] // last good JWKS
	methods []string               // algorithms with a configured key type
	stats   Stats
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

// New checks cfg, loads its keys and, with a JWKSURL, fetches the key set
// once (an error if that fails) and starts its background refresh; Close
// stops it.
func New(cfg Config) (*Verifier, error) {
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	} else if cfg.Leeway < 0 {
		cfg.Leeway = 0
	}
	if cfg.JWKSRefresh <= 0 {
		cfg.JWKSRefresh = DefaultJWKSRefresh
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: DefaultJWKSTimeout}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ValidName == nil {
		cfg.ValidName = func(s string) bool { return s != "" }
	}
	v := &Verifier{cfg: cfg, stop: make(chan struct{})}
	if cfg.HMACSecret != nil && len(cfg.HMACSecret) < MinHMACSecretLength {
		return nil, fmt.Errorf("auth: HMAC secret of %d bytes: at least %d required", len(cfg.HMACSecret), MinHMACSecretLength)
	}
	ks, err := parsePEMKeys(cfg.PublicKeys)
	if err != nil {
		return nil, err
	}
	ks.hmac = cfg.HMACSecret
	v.static = ks
	if cfg.Mode != Off && ks.empty() && cfg.JWKSURL == "" {
		return nil, errors.New("auth: no keys: set an HMAC secret, public keys or a JWKS URL")
	}
	if cfg.JWKSURL != "" {
		if err := v.fetchJWKS(); err != nil {
			return nil, err
		}
		v.wg.Add(1)
		go v.refreshLoop()
	}
	v.methods = methodsFor(cfg.HMACSecret != nil, ks, cfg.JWKSURL != "")
	opts := []jwt.ParserOption{jwt.WithValidMethods(v.methods), jwt.WithLeeway(cfg.Leeway), jwt.WithTimeFunc(cfg.Now)}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Close stops the JWKS refresh. Safe to call more than once.
func (v *Verifier) Close() {
	v.once.Do(func() { close(v.stop) })
	v.wg.Wait()
}

// Now is the Verifier's clock (Config.Now): the hub closes expired
// connections by it.
func (v *Verifier) Now() time.Time { return v.cfg.Now() }

// Leeway is the clock skew allowed on exp and nbf.
func (v *Verifier) Leeway() time.Duration { return v.cfg.Leeway }

// Mode is the configured mode.
func (v *Verifier) Mode() Mode { return v.cfg.Mode }

// Stats returns the live counters.
func (v *Verifier) Stats() *Stats { return &v.stats }

// claims are the token's claims as the node reads them.
type claims struct {
	jwt.RegisteredClaims
	Name  string   `json:"name,omitempty"`
	Nick  bool     `json:"nick,omitempty"`
	Rooms []string `json:"rooms,omitempty"`
}

// Verify checks a token and returns who it says the user is. A refused
// token's error is an *Error with its Reason (and counted in Stats).
func (v *Verifier) Verify(token string) (*Identity, error) {
	id, err := v.verify(token)
	if err != nil {
		v.stats.Refused[err.Reason].Add(1)
		return nil, err
	}
	v.stats.Verified.Add(1)
	return id, nil
}

func (v *Verifier) verify(token string) (*Identity, *Error) {
	if token == "" {
		return nil, refused(ReasonMissing, "")
	}
	var c claims
	if _, err := v.parser.ParseWithClaims(token, &c, v.keyFor); err != nil {
		return nil, v.classify(err, &c)
	}
	return v.identity(&c)
}

// identity checks the claims the node adds to RFC 7519's, and the
// token's lifetime.
func (v *Verifier) identity(c *claims) (*Identity, *Error) {
	if e := v.lifetime(c); e != nil {
		return nil, e
	}
	if c.Subject == "" {
		return nil, refused(ReasonBadClaims, "no sub")
	}
	id := &Identity{Subject: c.Subject, Name: c.Name, Nick: c.Nick, Rooms: c.Rooms}
	if id.Name == "" {
		id.Name = c.Subject
	}
	if !v.cfg.ValidName(id.Name) {
		return nil, refused(ReasonBadClaims, "invalid name")
	}
	for _, r := range c.Rooms {
		p, star := strings.CutSuffix(r, "*")
		if !(star && p == "") && !v.cfg.ValidName(p) {
			return nil, refused(ReasonBadClaims, "invalid rooms entry")
		}
	}
	if c.ExpiresAt != nil {
		id.Expires = unixNano(c.ExpiresAt.Time)
	}
	return id, nil
}

// lifetime checks that the token has an exp (unless AllowNoExp) and that
// it is not valid for longer than MaxTTL.
func (v *Verifier) lifetime(c *claims) *Error {
	if c.ExpiresAt == nil {
		if v.cfg.AllowNoExp {
			return nil
		}
		return refused(ReasonMissingExp, "")
	}
	if v.cfg.MaxTTL <= 0 {
		return nil
	}
	start := v.cfg.Now().Add(v.cfg.Leeway)
	if c.IssuedAt != nil && c.IssuedAt.Before(start) {
		start = c.IssuedAt.Time
	}
	if c.ExpiresAt.Sub(start) > v.cfg.MaxTTL {
		return refused(ReasonTTLTooLong, "over "+v.cfg.MaxTTL.String())
	}
	return nil
}

// Bounds of a time in Unix nanoseconds (an int64): 1677 to 2262.
var (
	minNano = time.Unix(0, math.MinInt64)
	maxNano = time.Unix(0, math.MaxInt64)
)

// unixNano is t in Unix nanoseconds, clamped to what an int64 holds: an
// exp after 2262 would overflow UnixNano (to a time in the past, and the
// connection would be closed at once as expired); it means "not for
// centuries", which the largest int64 says too.
func unixNano(t time.Time) int64 {
	switch {
	case t.After(maxNano):
		return math.MaxInt64
	case t.Before(minNano):
		return math.MinInt64
	}
	return t.UnixNano()
}

// classify maps jwt's errors to a Reason. Validation errors come joined:
// the first of expired, not yet valid, issuer and audience wins. A missing
// iss or aud is reported as wrong.
func (v *Verifier) classify(err error, c *claims) *Error {
	var e *Error
	if errors.As(err, &e) { // from keyFor
		return e
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return refused(ReasonMalformed, "")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return refused(ReasonBadSignature, "")
	case errors.Is(err, jwt.ErrTokenExpired):
		return refused(ReasonExpired, "")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return refused(ReasonNotYetValid, "")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return refused(ReasonWrongIssuer, "")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return refused(ReasonWrongAudience, "")
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return refused(ReasonUnknownKey, "")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && v.cfg.Issuer != "" && c.Issuer == "":
		return refused(ReasonWrongIssuer, "no iss")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && v.cfg.Audience != "" && len(c.Audience) == 0:
		return refused(ReasonWrongAudience, "no aud")
	}
	return refused(ReasonBadClaims, "")
}
