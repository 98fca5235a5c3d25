package tlsrec

import (
	"crypto/tls"
	"strconv"
	"strings"
)

// Alert is a TLS alert description (RFC 8446 section 6).
type Alert uint8

// The alerts the record layer sends or names.
const (
	AlertCloseNotify            Alert = 0   // the sender will send nothing more
	AlertUnexpectedMessage      Alert = 10  // a record or message not allowed here
	AlertBadRecordMAC           Alert = 20  // a record failed to decrypt
	AlertRecordOverflow         Alert = 22  // a record longer than 2^14 (+256 protected)
	AlertHandshakeFailure       Alert = 40  // no acceptable parameters
	AlertBadCertificate         Alert = 42  // a certificate was not valid
	AlertIllegalParameter       Alert = 47  // a field out of range (KeyUpdate's request)
	AlertDecodeError            Alert = 50  // a message that could not be parsed
	AlertProtocolVersion        Alert = 70  // an old version (a TLS 1.0 hello)
	AlertInternalError          Alert = 80  // the sender's own failure
	AlertUserCanceled           Alert = 90  // a warning, ignored
	AlertNoApplicationProtocol  Alert = 120 // no ALPN protocol in common
	AlertUnknownCA              Alert = 48  // the peer's CA is not trusted
	AlertCertificateUnknown     Alert = 46  // some other certificate problem
	AlertMissingExtension       Alert = 109 // a mandatory extension missing
	AlertUnsupportedCertificate Alert = 43
)

// String is the alert's name as RFC 8446 section 6 spells it, or
// "alert_N" for a code it does not define.
func (a Alert) String() string {
	if s := alertNames[a]; s != "" {
		return s
	}
	return "alert_" + strconv.Itoa(int(a))
}

var alertNames = [256]string{
	0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 21: "decryption_failed",
	22: "record_overflow", 40: "handshake_failure", 42: "bad_certificate", 43: "unsupported_certificate",
	44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown", 47: "illegal_parameter",
	48: "unknown_ca", 49: "access_denied", 50: "decode_error", 51: "decrypt_error", 70: "protocol_version",
	71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback", 90: "user_canceled",
	100: "no_renegotiation", 109: "missing_extension", 110: "unsupported_extension", 112: "unrecognized_name",
	113: "bad_certificate_status_response", 115: "unknown_psk_identity", 116: "certificate_required",
	120: "no_application_protocol", 121: "ech_required",
}

// alertByText maps crypto/tls's text of every alert ("tls: bad
// certificate", without the prefix) to its code, to name the alert of a
// "remote error" crypto/tls returns.
var alertByText = func() map[string]Alert {
	m := make(map[string]Alert, 40)
	for i := 0; i < 256; i++ {
		s := tls.AlertError(i).Error()
		if !strings.HasPrefix(s, "tls: alert(") {
			m[s] = Alert(i)
		}
	}
	return m
}()

// AlertError ends a connection's record layer: a fatal alert it must send
// (Remote false: the caller seals it with AppendAlert, then closes), or
// one the peer sent (Remote true: close without answering).
type AlertError struct {
	Alert  Alert
	Remote bool
}

func (e *AlertError) Error() string {
	if e.Remote {
		return "tlsrec: remote alert " + e.Alert.String()
	}
	return "tlsrec: " + e.Alert.String()
}

// The errors of Open and Seal: constants, so returning one allocates
// nothing. Each names the alert to send.
var (
	errUnexpected   = &AlertError{Alert: AlertUnexpectedMessage}
	errBadMAC       = &AlertError{Alert: AlertBadRecordMAC}
	errOverflow     = &AlertError{Alert: AlertRecordOverflow}
	errDecode       = &AlertError{Alert: AlertDecodeError}
	errIllegal      = &AlertError{Alert: AlertIllegalParameter}
	errInternal     = &AlertError{Alert: AlertInternalError}
	remoteAlertErrs = func() (e [256]*AlertError) {
		for i := range e {
			e[i] = &AlertError{Alert: Alert(i), Remote: true}
		}
		return e
	}()
)
