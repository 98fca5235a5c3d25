package auth

import (
	"net/url"
	"strings"
)

// TokenFrom extracts the token of an upgrade request from its query
// ("token=", which browsers can set on a WebSocket URL) or its
// Authorization header ("Bearer TOKEN", which programs can). It returns
// "" with a nil error when the request carries none, and an *Error
// (ReasonMalformed) when it carries one badly: the parameter twice, an
// empty one, a Bearer header without a token, or both places at once.
// Other authorization schemes (Basic) are not tokens: ignored.
func TokenFrom(rawQuery, authorization string) (string, error) {
	var q string
	if strings.Contains(rawQuery, "token=") {
		vals, err := url.ParseQuery(rawQuery)
		if err != nil {
			// Another parameter may be the bad one; still, the token's
			// place cannot be trusted.
			return "", refused(ReasonMalformed, "query does not parse")
		}
		switch t := vals["token"]; {
		case len(t) > 1:
			return "", refused(ReasonMalformed, "token given twice")
		case len(t) == 1 && t[0] == "":
			return "", refused(ReasonMalformed, "empty token")
		case len(t) == 1:
			q = t[0]
		}
	}
	var h string
	if scheme, rest, _ := strings.Cut(strings.TrimSpace(authorization), " "); strings.EqualFold(scheme, "Bearer") {
		if h = strings.TrimSpace(rest); h == "" {
			return "", refused(ReasonMalformed, "Bearer without a token")
		}
	}
	if q != "" && h != "" {
		return "", refused(ReasonMalformed, "token in both the query and the Authorization header")
	}
	return q + h, nil
}

// WithoutToken returns rawQuery without its token parameters (by their
// unescaped key, as TokenFrom reads them), the others as they were: what a
// connection keeps of its request after the upgrade then holds no
// credential (and, with nothing else, no query at all).
func WithoutToken(rawQuery string) string {
	if !strings.Contains(rawQuery, "oken=") && !strings.Contains(rawQuery, "%") {
		return rawQuery // no token parameter: no copy
	}
	var b strings.Builder
	for rest := rawQuery; rest != ""; {
		var p string
		p, rest, _ = strings.Cut(rest, "&")
		k, _, _ := strings.Cut(p, "=")
		if uk, err := url.QueryUnescape(k); p == "" || err == nil && uk == "token" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p)
	}
	return b.String()
}
