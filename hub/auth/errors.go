package auth

import "strconv"

// Reason is why a token was refused. Each has a metric label (String).
type Reason uint8

const (
	ReasonMissing        Reason = iota // no token, in Required mode
	ReasonMalformed                    // not a JWT, or the request carries it badly
	ReasonBadSignature                 // signature does not verify, or an algorithm not configured
	ReasonExpired                      // exp is past (beyond Leeway)
	ReasonNotYetValid                  // nbf is ahead (beyond Leeway)
	ReasonWrongIssuer                  // iss is not Config.Issuer
	ReasonWrongAudience                // aud does not hold Config.Audience
	ReasonUnknownKey                   // kid names no key, or no key of the token's type is configured
	ReasonBadClaims                    // sub missing, name or rooms invalid, a claim of the wrong type
	ReasonSubjectChanged               // a refresh token for another sub
	ReasonMissingExp                   // no exp claim (unless Config.AllowNoExp): it would never expire
	ReasonTTLTooLong                   // a lifetime (exp - iat, or exp - now) over Config.MaxTTL
	NumReasons
)

var reasonNames = [NumReasons]string{"missing", "malformed", "bad_signature", "expired", "not_yet_valid",
	"wrong_issuer", "wrong_audience", "unknown_key", "bad_claims", "subject_changed", "missing_exp", "ttl_too_long"}

// String is the reason's metric label.
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "reason" + strconv.Itoa(int(r))
}

// Error is a refused token. Its text names the reason and never quotes the
// token.
type Error struct {
	Reason Reason
	Detail string // what was wrong, without the token (may be empty)
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return "auth: " + reasonText[e.Reason]
	}
	return "auth: " + reasonText[e.Reason] + ": " + e.Detail
}

var reasonText = [NumReasons]string{"token missing", "token malformed", "bad signature", "token expired",
	"token not yet valid", "wrong issuer", "wrong audience", "unknown key", "invalid claims", "token for another user",
	"token without exp", "token lifetime over the limit"}

func refused(r Reason, detail string) *Error { return &Error{Reason: r, Detail: detail} }
