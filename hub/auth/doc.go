// Package auth verifies the JWT connect tokens of the chat node, in the
// manner of Centrifugo's connection JWT: an application that knows who the
// user is signs a token; the node checks it without calling back.
//
// It knows nothing of sockets or event loops: Verify is a pure function of
// the token, the keys in memory and the clock, cheap enough to run on an
// event loop (tens of microseconds, see Benchmark* in auth_test.go). Key
// sets fetched from a JWKS URL are refreshed by one background goroutine,
// never on the caller's path.
//
// Usage:
//
//	v, err := auth.New(auth.Config{
//		Mode:       auth.Required,
//		HMACSecret: secret,          // HS256/384/512
//		PublicKeys: pemBytes,        // RS256/PS256/ES256/EdDSA, chosen by kid
//		JWKSURL:    "https://idp.example.com/.well-known/jwks.json",
//		Issuer:     "https://app.example.com",
//	})
//	defer v.Close()
//	tok, err := auth.TokenFrom(r.RawQuery, r.Header("Authorization"))
//	id, err := v.Verify(tok) // *Identity, or an *Error with its Reason
//
// # Claims
//
//	sub    the user's identity (required)
//	name   the user's chat name (default: sub); checked by Config.ValidName
//	nick   true: the user may change names with /nick
//	rooms  room names, or prefixes ending in '*', the user may join (default: any)
//	exp    when the connection must be refreshed or closed; required unless
//	       Config.AllowNoExp, and at most Config.MaxTTL after iat (or now)
//	nbf, iss, aud   checked as RFC 7519 says, with Config.Leeway on times
//
// Tokens are secrets: nothing in this package logs one, and errors never
// quote one.
package auth
