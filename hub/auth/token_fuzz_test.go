package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// FuzzToken feeds token extraction, then verification, then claim
// validation with arbitrary input: the query and header an upgrade request
// may carry, and claims signed with the right secret (so that the claim
// checks run, not only the signature check). Nothing may panic, every
// refusal must be an *Error with a known reason that does not quote the
// token, and an accepted token must give a usable identity.
func FuzzToken(f *testing.F) {
	f.Add("token=abc.def.ghi&name=x", "", `{"sub":"alice","exp":1767326645}`)
	f.Add("", "Bearer a.b.c", `{"sub":"bob","name":"Bob","rooms":["lobby","team-*"],"nick":true}`)
	f.Add("token=%zz", "Bearer ", `{"sub":""}`)
	f.Add("token=a&token=b", "basic x", `{"sub":"x","rooms":5}`)
	f.Add("", "", `{"sub":"x","aud":["chat"],"nbf":1}`)
	now := t0
	v := newVerifier(f, Config{HMACSecret: secret, ValidName: func(s string) bool {
		return s != "" && len(s) <= 32 && !strings.ContainsAny(s, " /*")
	}}, &now)
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	f.Fuzz(func(t *testing.T, query, authz, claimsJSON string) {
		tok, err := TokenFrom(query, authz)
		if err != nil {
			wantReason(t, err, ReasonMalformed)
		}
		if left, _ := TokenFrom(WithoutToken(query), ""); left != "" {
			t.Fatalf("WithoutToken(%q) = %q still holds a token", query, WithoutToken(query))
		}
		if _, err := v.Verify(tok); err != nil {
			checkRefusal(t, err, tok)
		}
		signed := hdr + "." + base64.RawURLEncoding.EncodeToString([]byte(claimsJSON))
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(signed))
		signed += "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		id, err := v.Verify(signed)
		if err != nil {
			checkRefusal(t, err, signed)
			return
		}
		if id.Subject == "" || id.Name == "" || strings.ContainsAny(id.Name, " /*") {
			t.Fatalf("accepted identity %+v", id)
		}
		if id.Expires != 0 && time.Unix(0, id.Expires).Before(now.Add(-DefaultLeeway)) {
			t.Fatalf("accepted a token that expired at %v", time.Unix(0, id.Expires))
		}
	})
}

func checkRefusal(t *testing.T, err error, tok string) {
	t.Helper()
	e, ok := err.(*Error)
	if !ok || e.Reason >= NumReasons {
		t.Fatalf("refusal %v (%T) is not an *Error with a known reason", err, err)
	}
	if len(tok) > 8 && strings.Contains(err.Error(), tok) {
		t.Fatalf("refusal %q quotes the token", err)
	}
}
