package codec

import "strings"

// ExtensionDeflate is the name of the permessage-deflate extension (RFC 7692).
const ExtensionDeflate = "permessage-deflate"

// Deflate is the outcome of a permessage-deflate negotiation, as the server
// answered it. The zero value means the extension was not negotiated.
//
// The server always answers with server_no_context_takeover and
// client_no_context_takeover (RFC 7692 section 7.1.1): every message is
// compressed and inflated on its own, so no flate state has to survive
// between two messages of a connection, and a connection holds no flate
// reader or writer at all (they are pooled per event loop).
type Deflate struct {
	// Response is the Sec-WebSocket-Extensions value to send back; "" when
	// the extension was declined or not offered.
	Response string
	// WindowBits is the largest LZ77 window the server may use when it
	// compresses, from the accepted offer's server_max_window_bits (8-15;
	// 15 when the offer did not say). Go's flate writers always use a 32 KiB
	// window, so the server compresses only messages of at most 1<<WindowBits
	// bytes: a back-reference then cannot reach further than the message
	// itself, which keeps it within the window. Larger messages go
	// uncompressed (RSV1 clear), which RFC 7692 allows per message.
	WindowBits uint8
}

// Accepted reports whether the extension was negotiated.
func (d Deflate) Accepted() bool { return d.Response != "" }

// deflateResponses are the answers, by server_max_window_bits (index 0: the
// offer did not limit the server's window, so the answer does not mention
// it). They are constants so that a handshake allocates nothing for them.
var deflateResponses = [...]string{
	0:  ExtensionDeflate + "; server_no_context_takeover; client_no_context_takeover",
	8:  ExtensionDeflate + "; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8",
	9:  ExtensionDeflate + "; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9",
	10: ExtensionDeflate + "; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10",
	11: ExtensionDeflate + "; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11",
	12: ExtensionDeflate + "; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12",
	13: ExtensionDeflate + "; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=13",
	14: ExtensionDeflate + "; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=14",
	15: ExtensionDeflate + "; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15",
}

// NegotiateDeflate picks the first acceptable permessage-deflate offer in
// header, the value of the request's Sec-WebSocket-Extensions header (several
// header lines joined with ", "). Offers of other extensions are ignored.
//
// An offer is accepted when each of its parameters is one RFC 7692 defines,
// appears at most once and has a valid value:
//
//	server_no_context_takeover   no value
//	client_no_context_takeover   no value
//	server_max_window_bits=N     8 <= N <= 15, token or quoted string
//	client_max_window_bits[=N]   value optional; the client's window does not
//	                             matter to the server's inflater (32 KiB)
//
// An offer that breaks one of these rules is declined and the next one is
// tried; a header that cannot be parsed at all declines everything. Declining
// never fails the handshake: the connection opens without compression.
// Examples of accepted offers, as clients send them:
//
//	permessage-deflate; client_max_window_bits                      (Chromium, python websockets)
//	permessage-deflate                                              (Firefox)
//	permessage-deflate; server_no_context_takeover; client_no_context_takeover  (gorilla)
//	permessage-deflate; client_max_window_bits=12; server_max_window_bits=12
//
// NegotiateDeflate allocates nothing.
func NegotiateDeflate(header string) Deflate {
	for header != "" {
		var offer string
		var ok bool
		offer, header, ok = nextElement(header, ',')
		if !ok {
			return Deflate{} // unbalanced quotes: nothing after can be trusted
		}
		if bits, ok := acceptDeflateOffer(offer); ok {
			d := Deflate{Response: deflateResponses[bits], WindowBits: bits}
			if bits == 0 {
				d.WindowBits = 15
			}
			return d
		}
	}
	return Deflate{}
}

// acceptDeflateOffer checks one offer. bits is the offered
// server_max_window_bits, 0 if absent.
func acceptDeflateOffer(offer string) (bits uint8, ok bool) {
	name, params, _ := nextElement(offer, ';')
	if !strings.EqualFold(strings.TrimSpace(name), ExtensionDeflate) {
		return 0, false
	}
	const (
		seenSNCT = 1 << iota
		seenCNCT
		seenSMWB
		seenCMWB
	)
	seen := 0
	for params != "" {
		var p string
		p, params, ok = nextElement(params, ';')
		if !ok {
			return 0, false
		}
		k, v, hasValue := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		v, ok = unquote(strings.TrimSpace(v))
		if !ok {
			return 0, false
		}
		var flag int
		switch strings.ToLower(k) {
		case "server_no_context_takeover":
			flag = seenSNCT
			if hasValue {
				return 0, false
			}
		case "client_no_context_takeover":
			flag = seenCNCT
			if hasValue {
				return 0, false
			}
		case "server_max_window_bits":
			flag = seenSMWB
			if bits, ok = windowBits(v); !ok {
				return 0, false
			}
		case "client_max_window_bits":
			flag = seenCMWB
			if hasValue {
				if _, ok = windowBits(v); !ok {
					return 0, false
				}
			}
		default:
			return 0, false // unknown parameter, or an empty one ("a;;b")
		}
		if seen&flag != 0 {
			return 0, false
		}
		seen |= flag
	}
	return bits, true
}

// windowBits parses a window size of 8 to 15 (one or two ASCII digits).
func windowBits(v string) (uint8, bool) {
	switch {
	case len(v) == 1 && v[0] >= '8' && v[0] <= '9':
		return v[0] - '0', true
	case len(v) == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5':
		return 10 + v[1] - '0', true
	}
	return 0, false
}

// unquote strips the quotes of a quoted-string value (RFC 7230 section
// 3.2.6, with backslash escapes). Window sizes never need escapes, so a
// value with one is reported as not ok rather than unescaped.
func unquote(v string) (string, bool) {
	if len(v) == 0 || v[0] != '"' {
		return v, !strings.ContainsRune(v, '"')
	}
	if len(v) < 2 || v[len(v)-1] != '"' || strings.ContainsAny(v[1:len(v)-1], "\"\\") {
		return "", false
	}
	return v[1 : len(v)-1], true
}

// nextElement splits s at the first sep outside a quoted string. ok is false
// when a quoted string is not closed.
func nextElement(s string, sep byte) (elem, rest string, ok bool) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			return s[:i], s[i+1:], true
		}
	}
	return s, "", !quoted
}
