package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"edgews/hub"
	"edgews/hub/auth"
	"github.com/golang-jwt/jwt/v5"
)

// runToken is "wsnode token": it prints an HS256 connect token, so that
// auth can be tried without an application that issues tokens.
func runToken(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wsnode token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	secretFile := fs.String("hmac-secret-file", "", "file holding the HS256 secret, as given to --auth-hmac-secret-file (required)")
	sub := fs.String("sub", "", "the user's identity, the sub claim (required)")
	name := fs.String("name", "", "the user's chat name, the name claim (default: sub)")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid (the exp claim)")
	rooms := fs.String("rooms", "", "comma-separated rooms the user may join; a trailing * makes a prefix (default: any)")
	nick := fs.Bool("nick", false, "let the user change names with /nick")
	issuer := fs.String("issuer", "", "the iss claim (for --auth-issuer)")
	audience := fs.String("audience", "", "the aud claim (for --auth-audience)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: wsnode token --hmac-secret-file F --sub ID [flags]\n\nPrints an HS256 connect token for a node run with --auth and --auth-hmac-secret-file F.\n\n")
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
	case *secretFile == "":
		return fail("--hmac-secret-file is required")
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
	secret, err := readSecret(*secretFile)
	if err != nil {
		return fail("%v", err)
	}
	if len(secret) < auth.MinHMACSecretLength {
		return fail("the secret has %d bytes; the node wants at least %d", len(secret), auth.MinHMACSecretLength)
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
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return fail("%v", err)
	}
	fmt.Fprintln(stdout, tok)
	return 0
}
