package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"
)

// FailReason says why a connection failed to open, or why an open one was lost.
// It is the key of the failures map in the report.
type FailReason string

// Reasons a connection fails.
const (
	ReasonRefused          FailReason = "refused"             // TCP connect refused: nothing listens there
	ReasonHTTPStatus       FailReason = "http_status"         // the server answered the upgrade with a status other than 101 (key "http_NNN")
	ReasonDialTimeout      FailReason = "dial_timeout"        // TCP connect took longer than DialTimeout
	ReasonHandshakeTimeout FailReason = "handshake_timeout"   // no 101 within HandshakeTimeout
	ReasonPorts            FailReason = "ephemeral_ports"     // EADDRNOTAVAIL: the source address has no free port
	ReasonFiles            FailReason = "file_descriptors"    // EMFILE/ENFILE: the process may not open another descriptor
	ReasonClosed           FailReason = "closed_in_handshake" // EOF or reset before the 101
	ReasonBadHandshake     FailReason = "bad_handshake"       // malformed 101, or a wrong Sec-WebSocket-Accept
	ReasonProtocol         FailReason = "protocol"            // the server sent a frame the codec rejects
	ReasonTLS              FailReason = "tls"                 // the TLS handshake failed, or a record from the server was bad
	ReasonOther            FailReason = "other"
)

// Sentinels for errors.Is on the error Run returns. A *FailError matches the
// one of its Reason.
var (
	// ErrRefused: the server refused connections (TCP refused, or a non-101
	// upgrade status such as 503).
	ErrRefused = errors.New("bench: server refused")
	// ErrFileLimit: the process ran out of file descriptors (RLIMIT_NOFILE).
	ErrFileLimit = errors.New("bench: file descriptor limit")
	// ErrPortLimit: a source address ran out of ephemeral ports.
	ErrPortLimit = errors.New("bench: ephemeral port limit")
	// ErrTimeout: a dial or upgrade timed out.
	ErrTimeout = errors.New("bench: timeout")
	// ErrHandshake: the server closed or garbled the upgrade.
	ErrHandshake = errors.New("bench: handshake failed")
	// ErrWorker: a worker process died or broke the protocol.
	ErrWorker = errors.New("bench: worker failed")
)

// FailError is a connection failure with a message that names the limit hit
// and what to do about it. Count is how many connections failed this way
// when the run stopped.
type FailError struct {
	Reason FailReason `json:"reason"`
	Status int        `json:"status,omitempty"` // HTTP status, for ReasonHTTPStatus
	Msg    string     `json:"msg"`
	Count  int        `json:"count,omitempty"`
}

func (e *FailError) Error() string {
	if e.Count > 1 {
		return e.Msg + " (" + strconv.Itoa(e.Count) + " connections failed so)"
	}
	return e.Msg
}

// Is matches the sentinel of e's reason.
func (e *FailError) Is(target error) bool {
	switch e.Reason {
	case ReasonRefused, ReasonHTTPStatus:
		return target == ErrRefused
	case ReasonFiles:
		return target == ErrFileLimit
	case ReasonPorts:
		return target == ErrPortLimit
	case ReasonDialTimeout, ReasonHandshakeTimeout:
		return target == ErrTimeout
	case ReasonClosed, ReasonBadHandshake, ReasonProtocol, ReasonTLS:
		return target == ErrHandshake
	}
	return false
}

// key is the failures-map key: the reason, or "http_503" for a status.
func (e *FailError) key() string {
	if e.Reason == ReasonHTTPStatus {
		return "http_" + strconv.Itoa(e.Status)
	}
	return string(e.Reason)
}

// fatal reports whether retrying other connections cannot help: the
// process itself is out of descriptors or ports.
func (e *FailError) fatal() bool { return e.Reason == ReasonFiles || e.Reason == ReasonPorts }

// dialFailure classifies an error from dialing or enrolling a connection.
func dialFailure(err error, addr string, local net.IP, timeout time.Duration) *FailError {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return &FailError{Reason: ReasonRefused,
			Msg: fmt.Sprintf("bench: server refused: connection refused by %s (is the server running there?)", addr)}
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return fileLimitError(0, 0)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return portLimitError(local)
	case errors.As(err, &ne) && ne.Timeout():
		return &FailError{Reason: ReasonDialTimeout,
			Msg: fmt.Sprintf("bench: TCP connect to %s timed out after %v (server backlog full?)", addr, timeout)}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF):
		return &FailError{Reason: ReasonClosed,
			Msg: fmt.Sprintf("bench: %s closed the connection during the upgrade: %v", addr, err)}
	}
	return &FailError{Reason: ReasonOther, Msg: fmt.Sprintf("bench: dial %s: %v", addr, err)}
}

// fileLimitError explains RLIMIT_NOFILE. perProc is the number of
// connections one process was asked to hold and total the run's (0:
// unknown).
func fileLimitError(perProc, total int) *FailError {
	limit := fileLimit()
	per := max(limit-fdSlack, 1)
	msg := fmt.Sprintf("bench: out of file descriptors: one process may hold %d (RLIMIT_NOFILE hard limit, which cannot be raised here) and every connection needs one", limit)
	if perProc > 0 {
		msg += fmt.Sprintf("; %d connections per process need about %d", perProc, perProc+fdSlack)
	}
	if total > 0 {
		msg += fmt.Sprintf("; use --procs %d (or more) to split %d connections over processes of at most %d each", (total+per-1)/per, total, per)
	} else {
		msg += "; split the connections over more processes with --procs N (N = connections / " + strconv.Itoa(per) + ", rounded up)"
	}
	return &FailError{Reason: ReasonFiles, Msg: msg}
}

// portLimitError explains the ephemeral port range.
func portLimitError(local net.IP) *FailError {
	lo, hi := portRange()
	src := "127.0.0.1"
	if local != nil {
		src = local.String()
	}
	return &FailError{Reason: ReasonPorts, Msg: fmt.Sprintf(
		"bench: out of ephemeral ports on source address %s: net.ipv4.ip_local_port_range %d-%d gives %d ports per source address to one server address (TIME_WAIT sockets count too); lower --per-source so connections spread over 127.0.0.2, 127.0.0.3, ...",
		src, lo, hi, hi-lo+1)}
}

// statusError is a non-101 answer to the upgrade.
func statusError(status int, line string, addr string) *FailError {
	return &FailError{Reason: ReasonHTTPStatus, Status: status,
		Msg: fmt.Sprintf("bench: server refused the upgrade: %q from %s", line, addr)}
}
