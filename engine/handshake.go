package engine

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Request is the HTTP request that opened a connection: the upgrade request
// of a WebSocket, or a plain GET. It is a value: a copy may be kept and read
// from any goroutine.
type Request struct {
	Method     string
	Path       string
	RawQuery   string
	RemoteAddr netip.AddrPort // unmapped IPv4 for a v4-mapped IPv6 peer
	header     string         // the header lines, "Name: value\r\n" each, as received
}

// Header returns the first value of the named header (case-insensitive), or
// "". On a WebSocket connection after OnOpen, only the headers listed in
// Config.KeepHeaders are still there.
func (r Request) Header(name string) string {
	v, _, _ := nextHeader(r.header, name)
	return v
}

// headerValues returns every value of the named header (case-insensitive),
// joined with ", " as RFC 9110 section 5.3 allows for list headers; "" if
// absent. It allocates only when the header appears more than once.
func (r Request) headerValues(name string) string {
	all, h, _ := nextHeader(r.header, name)
	for {
		v, rest, ok := nextHeader(h, name)
		if !ok {
			return all
		}
		all, h = all+", "+v, rest
	}
}

// nextHeader finds the first line of header (lines "Name: value\r\n") named
// name, case-insensitive; it returns its trimmed value and the lines after
// it.
func nextHeader(header, name string) (v, rest string, ok bool) {
	for h := header; len(h) > 0; {
		line := h
		if i := strings.IndexByte(h, '\n'); i >= 0 {
			line, h = h[:i], h[i+1:]
		} else {
			h = ""
		}
		k, v, ok := strings.Cut(strings.TrimSuffix(line, "\r"), ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v), h, true
		}
	}
	return "", "", false
}

// keepHeaders returns the header lines named in names, in a new string.
func keepHeaders(header string, names []string) string {
	if len(names) == 0 {
		return ""
	}
	var b strings.Builder
	for h := header; len(h) > 0; {
		line := h
		if i := strings.IndexByte(h, '\n'); i >= 0 {
			line, h = h[:i+1], h[i+1:]
		} else {
			h = ""
		}
		k, _, _ := strings.Cut(line, ":")
		for _, n := range names {
			if strings.EqualFold(strings.TrimSpace(k), n) {
				b.WriteString(line)
				break
			}
		}
	}
	return b.String()
}

// Query returns the first value of the named query parameter, or "".
func (r Request) Query(name string) string {
	q, _ := url.ParseQuery(r.RawQuery)
	return q.Get(name)
}

// httpError is a refused request: the status and a short explanation that
// becomes the plain-text body.
type httpError struct {
	status int
	reason Reason
	msg    string
	header string // extra header lines, CRLF-terminated
}

func (e *httpError) Error() string { return "engine: http " + strconv.Itoa(e.status) + ": " + e.msg }

var (
	errHeaderTooLarge = &httpError{status: 431, reason: ReasonHeaderTooLarge, msg: "request header too large"}
	errBadRequestLine = &httpError{status: 400, reason: ReasonBadRequest, msg: "malformed request line"}
	errBadHeaderLine  = &httpError{status: 400, reason: ReasonBadRequest, msg: "malformed header line"}
	errBadVersion     = &httpError{status: 505, reason: ReasonHTTPVersion, msg: "HTTP/1.1 or later required"}
	errNoHost         = &httpError{status: 400, reason: ReasonBadRequest, msg: "missing Host header"}
	errNotFound       = &httpError{status: 404, reason: ReasonNotFound, msg: "no such route"}
	errBadMethod      = &httpError{status: 405, reason: ReasonMethod, msg: "method not allowed", header: "Allow: GET\r\n"}
	errBadUpgrade     = &httpError{status: 400, reason: ReasonUpgradeHeaders, msg: "missing or invalid Upgrade: websocket header"}
	errBadConnection  = &httpError{status: 400, reason: ReasonUpgradeHeaders, msg: "missing or invalid Connection: Upgrade header"}
	errBadKey         = &httpError{status: 400, reason: ReasonKey, msg: "missing or invalid Sec-WebSocket-Key header"}
	errBadWSVersion   = &httpError{status: 426, reason: ReasonWSVersion, msg: "unsupported Sec-WebSocket-Version", header: "Sec-WebSocket-Version: 13\r\n"}
)

// headerEnd returns the length of the request head including the blank line
// that ends it, or -1 when the head is not complete yet.
func headerEnd(b []byte) int {
	if i := bytes.Index(b, blankLine); i >= 0 {
		return i + 4
	}
	return -1
}

var blankLine = []byte("\r\n\r\n")

// headEnd is headerEnd for a head whose first part, kept, came in earlier
// reads (without its end): the number of bytes of b that complete it, or
// -1. Only b is searched, and the at most 6 bytes around the joint, so a
// head read in pieces costs linear work.
func headEnd(kept, b []byte) int {
	if len(kept) > 0 {
		var joint [6]byte
		k := copy(joint[:], kept[max(len(kept)-3, 0):])
		n := copy(joint[k:], b)
		if i := bytes.Index(joint[:k+n], blankLine); i >= 0 {
			return i + 4 - k // kept holds no blank line: it ends in b
		}
	}
	return headerEnd(b)
}

// keepHead moves the part of c's request head in b (all of gnet's buffer)
// out of gnet into l.heads, appended to kept, and charges it.
func (l *Loop) keepHead(c *Conn, kept, b []byte) {
	if len(b) == 0 {
		return // never Discard(0): gnet reads it as "everything"
	}
	if l.heads == nil {
		l.heads = make(map[*Conn][]byte)
	}
	if kept == nil {
		kept = make([]byte, 0, max(2*len(b), 512))
	}
	l.heads[c] = append(kept, b...)
	c.discardIn(len(b))
}

// upgradeInfo is what a valid WebSocket upgrade request carries.
type upgradeInfo struct {
	key       string // Sec-WebSocket-Key
	protocols string // Sec-WebSocket-Protocol, comma-separated offers
}

// parseRequest parses a complete request head (as delimited by headerEnd).
// It checks the request line and header syntax only.
func parseRequest(head []byte) (Request, error) {
	var r Request
	line, rest, ok := bytes.Cut(head, []byte("\r\n"))
	if !ok {
		return r, errBadRequestLine
	}
	method, line, ok1 := bytes.Cut(line, []byte(" "))
	uri, proto, ok2 := bytes.Cut(line, []byte(" "))
	if !ok1 || !ok2 || len(method) == 0 || len(uri) == 0 || uri[0] != '/' {
		return r, errBadRequestLine
	}
	switch string(proto) {
	case "HTTP/1.1":
	case "HTTP/1.0", "HTTP/0.9":
		return r, errBadVersion
	default:
		if !bytes.HasPrefix(proto, []byte("HTTP/")) {
			return r, errBadRequestLine
		}
	}
	// Lines end in CRLF; a bare LF is accepted as well (RFC 9112 section 2.2),
	// as Request.Header does.
	for _, l := range bytes.Split(rest, []byte("\n")) {
		l = bytes.TrimSuffix(l, []byte("\r"))
		if len(l) == 0 {
			continue
		}
		if i := bytes.IndexByte(l, ':'); i <= 0 || bytes.ContainsAny(l[:i], " \t") {
			return r, errBadHeaderLine
		}
	}
	path, query, _ := bytes.Cut(uri, []byte("?"))
	r.Method = internMethod(method)
	r.Path = string(path)
	r.RawQuery = string(query)
	r.header = string(bytes.TrimRight(rest, "\r\n")) + "\r\n"
	if r.Header("Host") == "" {
		return r, errNoHost
	}
	return r, nil
}

// internMethod returns the method as a string, without a copy for GET and
// HEAD (the only ones served): one allocation less per connection.
func internMethod(m []byte) string {
	switch string(m) { // no allocation: the compiler compares in place
	case "GET":
		return "GET"
	case "HEAD":
		return "HEAD"
	}
	return string(m)
}

// checkUpgrade applies RFC 6455 section 4.2.1 to a parsed GET request.
func checkUpgrade(r *Request) (upgradeInfo, error) {
	var u upgradeInfo
	if r.Method != "GET" {
		return u, errBadMethod
	}
	if !hasToken(r.Header("Upgrade"), "websocket") {
		return u, errBadUpgrade
	}
	if !hasToken(r.Header("Connection"), "upgrade") {
		return u, errBadConnection
	}
	u.key = r.Header("Sec-WebSocket-Key")
	// Length first: Decode writes up to len(key)*3/4 bytes into nonce.
	var nonce [18]byte
	if len(u.key) != 24 {
		return u, errBadKey
	}
	if n, err := base64.StdEncoding.Decode(nonce[:], []byte(u.key)); err != nil || n != 16 {
		return u, errBadKey
	}
	if r.Header("Sec-WebSocket-Version") != "13" {
		return u, errBadWSVersion
	}
	u.protocols = r.Header("Sec-WebSocket-Protocol")
	return u, nil
}

// hasToken reports whether the comma-separated header value v lists tok
// (case-insensitive), as Connection: keep-alive, Upgrade does.
func hasToken(v, tok string) bool {
	for v != "" {
		var t string
		t, v, _ = strings.Cut(v, ",")
		if strings.EqualFold(strings.TrimSpace(t), tok) {
			return true
		}
	}
	return false
}

// selectProtocol returns the first offered protocol the route supports.
func selectProtocol(offered string, supported []string) string {
	for offered != "" {
		var p string
		p, offered, _ = strings.Cut(offered, ",")
		p = strings.TrimSpace(p)
		for _, s := range supported {
			if p == s {
				return s
			}
		}
	}
	return ""
}

const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// appendAccept appends Sec-WebSocket-Accept for key: base64(SHA-1(key+GUID)).
func appendAccept(dst []byte, key string) []byte {
	var buf [24 + len(acceptGUID)]byte
	n := copy(buf[:], key)
	n += copy(buf[n:], acceptGUID)
	sum := sha1.Sum(buf[:n])
	return base64.StdEncoding.AppendEncode(dst, sum[:])
}

// appendSwitching appends the 101 response; extensions is the
// Sec-WebSocket-Extensions answer, or "".
func appendSwitching(dst []byte, u upgradeInfo, protocol, extensions string) []byte {
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	dst = appendAccept(dst, u.key)
	dst = append(dst, "\r\n"...)
	if protocol != "" {
		dst = append(dst, "Sec-WebSocket-Protocol: "...)
		dst = append(dst, protocol...)
		dst = append(dst, "\r\n"...)
	}
	if extensions != "" {
		dst = append(dst, "Sec-WebSocket-Extensions: "...)
		dst = append(dst, extensions...)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// appendResponse appends a complete plain HTTP response that closes the connection.
func appendResponse(dst []byte, resp Response) []byte {
	status := resp.Status
	if status == 0 {
		status = 200
	}
	ct := resp.ContentType
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, statusText(status)...)
	dst = append(dst, "\r\nContent-Type: "...)
	dst = append(dst, ct...)
	dst = append(dst, "\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(resp.Body)), 10)
	dst = append(dst, "\r\nConnection: close\r\nCache-Control: no-store\r\n"...)
	for _, h := range resp.Header {
		dst = append(dst, h...)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	return append(dst, resp.Body...)
}

// errorResponse is the plain-text answer to a refused request.
func errorResponse(e *httpError) Response {
	r := Response{Status: e.status, Body: []byte(e.msg + "\n")}
	if e.header != "" {
		r.Header = []string{strings.TrimSuffix(e.header, "\r\n")}
	}
	return r
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "Status " + strconv.Itoa(code)
}
