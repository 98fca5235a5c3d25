// Package cli is the wiring shared by the peer binaries: raise the file
// limit, listen, print the ready line, wait for a signal, stop.
package cli

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
)

// DefaultAddr is the --addr default of every peer.
const DefaultAddr = "127.0.0.1:8080"

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
	ln, err := net.Listen("tcp", *addr)
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
