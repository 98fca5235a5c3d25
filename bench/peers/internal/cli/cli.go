// Package cli is the wiring shared by the peer binaries: raise the file
// limit, listen, print the ready line, wait for a signal, stop.
package cli

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// DefaultAddr is the --addr default of every peer.
const DefaultAddr = "127.0.0.1:8080"

// reusePort lets several processes of one peer share --addr, as the node's
// --reuseport does, so runs beyond one process's descriptor limit compare
// like with like.
var reusePort = flag.Bool("reuseport", false, "set SO_REUSEPORT so several processes share --addr")

// listen opens the TCP listener, with SO_REUSEPORT when asked.
func listen(addr string) (net.Listener, error) {
	lc := net.ListenConfig{}
	if *reusePort {
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

// Serve starts a peer on ln and returns a func that stops it and waits
// until its goroutines are gone.
type Serve func(ln net.Listener) (stop func(), err error)

// RaiseNoFile sets the soft RLIMIT_NOFILE to the hard limit and returns the
// new soft limit. (Go 1.19+ already does this for programs that import os;
// doing it explicitly keeps the behaviour visible and independent of that.)
func RaiseNoFile() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("cli: getrlimit: %w", err)
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return 0, fmt.Errorf("cli: setrlimit: %w", err)
		}
	}
	return rl.Cur, nil
}

// Main parses flags (the caller has defined its own before calling), raises
// the file limit, listens on *addr, starts the peer, prints
// "listening on ADDR pid PID" on stdout once the listener accepts, and runs
// until SIGINT or SIGTERM. It never returns.
func Main(name string, addr *string, serve Serve) {
	flag.Parse()
	if _, err := RaiseNoFile(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	}
	ln, err := listen(*addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: listen: %v\n", name, err)
		os.Exit(1)
	}
	stop, err := serve(ln)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: serve: %v\n", name, err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	fmt.Printf("listening on %s pid %d\n", ln.Addr(), os.Getpid())
	<-sig
	stop()
	os.Exit(0)
}
