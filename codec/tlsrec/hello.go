package tlsrec

// What arrives first on a TLS port, judged on the loop before a worker is
// given the connection: only a complete ClientHello goes to crypto/tls, so
// a client that trickles its hello holds no worker, and traffic that is
// not TLS is answered without one.

// Hello is the verdict of ScanHello on the first bytes of a connection.
type Hello uint8

const (
	HelloPartial  Hello = iota // not enough bytes yet
	HelloComplete              // a whole ClientHello: hand RecordsLen bytes to a Handshake
	HelloHTTP                  // a plain HTTP request on the TLS port
	HelloNotTLS                // not a TLS handshake: answer PlainAlert(AlertUnexpectedMessage)
	HelloOverflow              // a record over 2^14 bytes: PlainAlert(AlertRecordOverflow)
	HelloSSLv2                 // an SSL 2.0 hello: PlainAlert(AlertProtocolVersion)
)

// msgClientHello is the ClientHello's handshake message type.
const msgClientHello = 1

// ScanHello judges the first bytes a client sent.
func ScanHello(buf []byte) Hello {
	if len(buf) == 0 {
		return HelloPartial
	}
	switch b := buf[0]; {
	case b >= 'A' && b <= 'Z':
		return scanMethod(buf)
	case b&0x80 != 0:
		// An SSL 2.0 record starts with a two-byte length with its top
		// bit set (crypto/tls sends protocol_version for it too).
		return HelloSSLv2
	case ContentType(b) != TypeHandshake:
		return HelloNotTLS
	}
	need := -1 // handshake bytes of the whole ClientHello, once known
	got := 0
	var mh [4]byte // the message header: type(1) length(3)
	for off := 0; off+HeaderLen <= len(buf); {
		if ContentType(buf[off]) != TypeHandshake || buf[off+1] != 3 {
			return HelloNotTLS
		}
		n := int(buf[off+3])<<8 | int(buf[off+4])
		if n > MaxPlaintext {
			return HelloOverflow
		}
		if n == 0 {
			return HelloNotTLS
		}
		body := buf[off+HeaderLen : min(off+HeaderLen+n, len(buf))]
		if got < len(mh) {
			copy(mh[got:], body)
		}
		got += len(body)
		if need < 0 && got >= len(mh) {
			if mh[0] != msgClientHello {
				return HelloNotTLS
			}
			need = len(mh) + (int(mh[1])<<16 | int(mh[2])<<8 | int(mh[3]))
			if need > maxMessage {
				return HelloOverflow
			}
		}
		if len(body) < n {
			break
		}
		off += HeaderLen + n
		if need >= 0 && got >= need {
			return HelloComplete
		}
	}
	return HelloPartial
}

// scanMethod tells a request line ("GET /", "POST /", ...) from garbage:
// up to 10 capital letters, then a space.
func scanMethod(buf []byte) Hello {
	for i, b := range buf {
		switch {
		case b == ' ' && i > 0:
			return HelloHTTP
		case b < 'A' || b > 'Z' || i == 10:
			return HelloNotTLS
		}
	}
	return HelloPartial
}

// RecordsLen is the length of the whole records at the start of buf.
func RecordsLen(buf []byte) int {
	off := 0
	for off+HeaderLen <= len(buf) {
		end := off + HeaderLen + (int(buf[off+3])<<8 | int(buf[off+4]))
		if end > len(buf) {
			break
		}
		off = end
	}
	return off
}

// PlainAlert is a fatal alert in a record of its own, unprotected: what a
// server answers before any key exists.
func PlainAlert(a Alert) []byte {
	return []byte{byte(TypeAlert), 3, 3, 0, 2, 2, byte(a)}
}

// HTTPOnTLSPort is the answer to a plain HTTP request on a TLS port (the
// text net/http sends).
const HTTPOnTLSPort = "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
