package engine

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The engine accepts connections itself and hands them to gnet's loops,
// instead of letting gnet listen, for two reasons found under load:
//
//   - gnet treats any accept error but EAGAIN as fatal: at the descriptor
//     limit (EMFILE) its acceptor stops and every connection of the engine
//     is closed. A server at its limit must refuse, not die.
//   - gnet cannot stop accepting without stopping its loops, so a drain
//     could not stop taking connections. Owning the listener, a drain
//     closes it: with SO_REUSEPORT the kernel sends new connections to the
//     other processes on the port.
//
// A fixed set of acceptor goroutines (one per loop, never one per
// connection) accepts and enrolls each socket into the least loaded loop;
// gnet's Enroll registers a duplicate of the descriptor and the original is
// closed, so a socket briefly costs two descriptors.

// fdReserve is kept free for everything but connections: the loops' epoll
// and event descriptors, the listener, the metrics server and its scrapes,
// logs, and the duplicates acceptors hold for a moment.
const fdReserve = 64

// listen opens the TCP listener (SO_REUSEADDR as net.Listen always sets it;
// SO_REUSEPORT when configured).
func listen(addr string, reusePort bool) (net.Listener, error) {
	lc := net.ListenConfig{}
	if reusePort {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	return lc.Listen(context.Background(), "tcp", addr)
}

// fdLimit is the process's RLIMIT_NOFILE (soft).
func fdLimit() int64 {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil || r.Cur > 1<<40 {
		return 1 << 40
	}
	return int64(r.Cur)
}

// enrollTicket is the context an acceptor enrolls a socket with, to learn
// whether gnet opened it. gnet v2.10.0's Enroll waits until the loop has
// registered the socket and run OnOpen, and returns nil even when the
// registration failed (epoll_ctl ADD: ENOSPC past fs.epoll.max_user_watches,
// ENOMEM): it then closes the descriptor without OnOpen or OnClose
// (eventloop.register0), and the socket would stay counted in
// Server.sockets for good. OnOpen sets opened before Enroll returns (it runs
// before the channel Enroll waits on is closed), so the acceptor reads it
// without a race. One per acceptor goroutine, reused.
type enrollTicket struct{ opened bool }

// acceptLoop accepts until the listener is closed. It returns nil after
// Shutdown closed the listener, or the error that ended it.
func (s *Server) acceptLoop(ln net.Listener) error {
	var backoff time.Duration
	ticket := new(enrollTicket)
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.draining.Load() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			if !temporaryAcceptError(err) {
				return err
			}
			// As net/http's Serve: out of descriptors or buffers is
			// transient (connections close); wait and retry.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.l.Warn("accept failed, retrying", "err", err, "in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.stats.accepted.Add(1)
		if n := s.sockets.Add(1); n+fdReserve > s.fdMax {
			// At the descriptor limit: answer 503 on the socket we have,
			// rather than let the next accept fail.
			s.sockets.Add(-1)
			s.stats.refused[ReasonFDLimit].Add(1)
			if s.tls != nil {
				_ = nc.Close() // a TLS client could not read an HTTP answer
			} else {
				refuseRaw(nc, errFDLimit)
			}
			continue
		}
		ticket.opened = false
		if _, err := s.cli.EnrollContext(nc, ticket); err != nil {
			s.sockets.Add(-1)
			_ = nc.Close()
			if s.draining.Load() {
				return nil
			}
			s.log.l.Warn("enroll failed", "err", err)
		} else if !ticket.opened {
			s.sockets.Add(-1) // gnet closed it: see enrollTicket
			s.log.l.Warn("enroll failed: gnet could not register the socket with its loop")
		}
	}
}

// temporaryAcceptError reports errors after which accepting can go on.
func temporaryAcceptError(err error) bool {
	for _, e := range []error{unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM, unix.ECONNABORTED, unix.EINTR, unix.EPROTO} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// refuseRaw answers an accepted socket that never reaches a loop, and
// closes it. The write is bounded: the socket buffer takes a short reply.
func refuseRaw(nc net.Conn, he *httpError) {
	_ = nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = nc.Write(appendResponse(nil, errorResponse(he)))
	if tc, ok := nc.(*net.TCPConn); ok {
		// Half-close and give the client a moment to read before the
		// close, so it sees the answer rather than a reset.
		_ = tc.CloseWrite()
		_ = tc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, _ = io.Copy(io.Discard, io.LimitReader(tc, 64<<10))
	}
	_ = nc.Close()
}
