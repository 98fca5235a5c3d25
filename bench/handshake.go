package bench

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"strconv"
)

// The client side of the HTTP upgrade (RFC 6455 section 4.1), done on the
// gnet connection itself: OnOpen writes the request, OnTraffic parses the
// response from the bytes gnet buffered, and whatever follows the response
// head in the same read is already frames.
//
//	client                                         server
//	  | -- GET /path HTTP/1.1                   --> |
//	  |    Upgrade: websocket, Connection: Upgrade  |
//	  |    Sec-WebSocket-Key: base64(16 random B)   |
//	  | <-- HTTP/1.1 101 Switching Protocols    --- |
//	  |     Sec-WebSocket-Accept: base64(sha1(key + wsGUID))
//	  | <-- frames (possibly in the same read)  --- |

// wsGUID is the fixed suffix of the accept-key hash (RFC 6455 section 1.3).
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// keyLen is the length of a Sec-WebSocket-Key: 16 bytes in base64.
const keyLen = 24

// maxResponseHead bounds the upgrade response head; a longer one is a bad
// handshake rather than a reason to buffer without end.
const maxResponseHead = 8 << 10

// newKey fills key with a random Sec-WebSocket-Key.
func newKey(key *[keyLen]byte) {
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	base64.StdEncoding.Encode(key[:], raw[:])
}

// acceptFor returns the Sec-WebSocket-Accept the server must send for key.
func acceptFor(key []byte) [28]byte {
	h := sha1.New()
	h.Write(key)
	h.Write([]byte(wsGUID))
	var sum [sha1.Size]byte
	var out [28]byte
	base64.StdEncoding.Encode(out[:], h.Sum(sum[:0]))
	return out
}

// deflateOffer is the permessage-deflate offer of Config.Compression:
// Chromium's.
const deflateOffer = "permessage-deflate; client_max_window_bits"

// appendUpgradeRequest appends the upgrade request for path on host, with
// the permessage-deflate offer if deflate and the subprotocol proto if
// not empty.
func appendUpgradeRequest(dst []byte, host, path string, key []byte, deflate bool, proto string) []byte {
	dst = append(dst, "GET "...)
	dst = append(dst, path...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "...)
	dst = append(dst, key...)
	if deflate {
		dst = append(dst, "\r\nSec-WebSocket-Extensions: "+deflateOffer...)
	}
	if proto != "" {
		dst = append(append(dst, "\r\nSec-WebSocket-Protocol: "...), proto...)
	}
	return append(dst, "\r\nUser-Agent: wsbench\r\n\r\n"...)
}

// parseUpgradeResponse checks the upgrade response at the start of buf.
// n is the length of the response head, to be discarded; n == 0 with a nil
// error means the head has not fully arrived. Bytes after the head are
// frames. With offered (the request offered permessage-deflate), a
// permessage-deflate answer sets deflate; any other extension, or one not
// offered, is a bad handshake.
func parseUpgradeResponse(buf, key []byte, addr string, offered bool) (n int, deflate bool, ferr *FailError) {
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		if len(buf) > maxResponseHead {
			return 0, false, badHandshake(addr, "response head over "+strconv.Itoa(maxResponseHead)+" bytes")
		}
		// A refusal's status line is enough to report it, whole head or not.
		if line, ok := firstLine(buf); ok {
			if status, ok := statusOf(line); ok && status != 101 {
				return 0, false, statusError(status, string(line), addr)
			}
		}
		return 0, false, nil
	}
	head := buf[:end+2] // keep the last header's CRLF
	line, _ := firstLine(head)
	status, ok := statusOf(line)
	if !ok {
		return 0, false, badHandshake(addr, "status line "+strconv.Quote(string(line)))
	}
	if status != 101 {
		return 0, false, statusError(status, string(line), addr)
	}
	var upgrade, connection, accept bool
	want := acceptFor(key)
	rest := head[len(line)+2:]
	for len(rest) > 0 {
		i := bytes.Index(rest, []byte("\r\n"))
		h := rest[:i]
		rest = rest[i+2:]
		colon := bytes.IndexByte(h, ':')
		if colon < 0 {
			return 0, false, badHandshake(addr, "header line "+strconv.Quote(string(h)))
		}
		name, value := bytes.TrimSpace(h[:colon]), bytes.TrimSpace(h[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("Upgrade")):
			upgrade = bytes.EqualFold(value, []byte("websocket"))
		case bytes.EqualFold(name, []byte("Connection")):
			connection = hasToken(value, "upgrade")
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Accept")):
			if !bytes.Equal(value, want[:]) {
				return 0, false, badHandshake(addr, "Sec-WebSocket-Accept "+strconv.Quote(string(value))+", want "+string(want[:]))
			}
			accept = true
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Extensions")):
			if !offered || deflate || !bytes.HasPrefix(value, []byte("permessage-deflate")) {
				return 0, false, badHandshake(addr, "extension "+strconv.Quote(string(value))+" that was not offered")
			}
			deflate = true
		}
	}
	switch {
	case !upgrade:
		return 0, false, badHandshake(addr, "no Upgrade: websocket header")
	case !connection:
		return 0, false, badHandshake(addr, "no Connection: Upgrade header")
	case !accept:
		return 0, false, badHandshake(addr, "no Sec-WebSocket-Accept header")
	}
	return end + 4, deflate, nil
}

// firstLine returns buf up to its first CRLF.
func firstLine(buf []byte) ([]byte, bool) {
	i := bytes.Index(buf, []byte("\r\n"))
	if i < 0 {
		return nil, false
	}
	return buf[:i], true
}

// statusOf parses "HTTP/1.1 101 Switching Protocols".
func statusOf(line []byte) (int, bool) {
	if !bytes.HasPrefix(line, []byte("HTTP/1.")) || len(line) < 12 || line[8] != ' ' {
		return 0, false
	}
	status, err := strconv.Atoi(string(line[9:12]))
	return status, err == nil
}

// hasToken reports whether the comma-separated list v holds tok (any case).
func hasToken(v []byte, tok string) bool {
	for len(v) > 0 {
		i := bytes.IndexByte(v, ',')
		if i < 0 {
			i = len(v)
		}
		if bytes.EqualFold(bytes.TrimSpace(v[:i]), []byte(tok)) {
			return true
		}
		v = v[min(i+1, len(v)):]
	}
	return false
}

func badHandshake(addr, what string) *FailError {
	return &FailError{Reason: ReasonBadHandshake, Msg: "bench: bad upgrade response from " + addr + ": " + what}
}
