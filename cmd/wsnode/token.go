package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"edgews/hub"
	"edgews/hub/auth"
	"github.com/golang-jwt/jwt/v5"
)

// runToken is "wsnode token": it prints a connect token, HS256 with a
// secret file or RS256/ES256/EdDSA with a private key, so that auth can be
// tried (and benchmarked) without an application that issues tokens.
func runToken(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wsnode token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	secretFile := fs.String("hmac-secret-file", "", "file holding the HS256 secret, as given to --auth-hmac-secret-file")
	keyFile := fs.String("private-key", "", "PEM private key (PKCS#8, or PKCS#1 RSA / SEC 1 EC) to sign with instead: RSA RS256, EC P-256 ES256, Ed25519 EdDSA")
	kid := fs.String("kid", "", "the kid header: which of the node's --auth-public-keys verifies the token")
	sub := fs.String("sub", "", "the user's identity, the sub claim (required)")
	name := fs.String("name", "", "the user's chat name, the name claim (default: sub)")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid (the exp claim)")
	rooms := fs.String("rooms", "", "comma-separated rooms the user may join; a trailing * makes a prefix (default: any)")
	nick := fs.Bool("nick", false, "let the user change names with /nick")
	issuer := fs.String("issuer", "", "the iss claim (for --auth-issuer)")
	audience := fs.String("audience", "", "the aud claim (for --auth-audience)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: wsnode token (--hmac-secret-file F | --private-key K [--kid ID]) --sub ID [flags]\n\n"+
			"Prints a connect token: HS256 for a node run with --auth-hmac-secret-file F, or signed with\n"+
			"the private key K for a node whose --auth-public-keys holds its public key.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "wsnode token: "+format+"\n", a...)
		return 2
	}
	switch {
	case fs.NArg() > 0:
		return fail("unexpected argument %q", fs.Arg(0))
	case (*secretFile == "") == (*keyFile == ""):
		return fail("one of --hmac-secret-file and --private-key is required")
	case *sub == "":
		return fail("--sub is required")
	case *ttl <= 0:
		return fail("--ttl must be positive")
	}
	shown := *name
	if shown == "" {
		shown = *sub
	}
	if !hub.ValidName(shown) {
		return fail("name %q: use 1-%d letters, digits, _ or - (the node refuses other names)", shown, hub.MaxNameLen)
	}
	method, key, err := signingKey(*secretFile, *keyFile)
	if err != nil {
		return fail("%v", err)
	}
	now := time.Now()
	claims := jwt.MapClaims{"sub": *sub, "iat": now.Unix(), "exp": now.Add(*ttl).Unix()}
	if *name != "" {
		claims["name"] = *name
	}
	if *rooms != "" {
		var list []string
		for _, r := range strings.Split(*rooms, ",") {
			if r = strings.TrimSpace(r); r != "" {
				list = append(list, r)
			}
		}
		claims["rooms"] = list
	}
	if *nick {
		claims["nick"] = true
	}
	if *issuer != "" {
		claims["iss"] = *issuer
	}
	if *audience != "" {
		claims["aud"] = *audience
	}
	t := jwt.NewWithClaims(method, claims)
	if *kid != "" {
		t.Header["kid"] = *kid
	}
	tok, err := t.SignedString(key)
	if err != nil {
		return fail("%v", err)
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

// signingKey reads the HMAC secret or the private key, and the algorithm
// it signs with.
func signingKey(secretFile, keyFile string) (jwt.SigningMethod, any, error) {
	if secretFile != "" {
		secret, err := readSecret(secretFile)
		if err != nil {
			return nil, nil, err
		}
		if len(secret) < auth.MinHMACSecretLength {
			return nil, nil, fmt.Errorf("the secret has %d bytes; the node wants at least %d", len(secret), auth.MinHMACSecretLength)
		}
		return jwt.SigningMethodHS256, secret, nil
	}
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, nil, fmt.Errorf("%s: no PEM block", keyFile)
	}
	var key any
	switch blk.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return jwt.SigningMethodRS256, k, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, nil, fmt.Errorf("%s: EC key on %s; ES256 wants P-256", keyFile, k.Curve.Params().Name)
		}
		return jwt.SigningMethodES256, k, nil
	case ed25519.PrivateKey:
		return jwt.SigningMethodEdDSA, k, nil
	}
	return nil, nil, fmt.Errorf("%s: unsupported key type %T", keyFile, key)
}
