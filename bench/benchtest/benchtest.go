// Package benchtest holds helpers for tests that drive wsbench, as
// enginetest does for the engine.
//
//	addr, accepted := benchtest.Counter(t)
//	_, err := bench.Run(ctx, bench.Config{URL: "ws://" + addr, ...})
//	if accepted() != 0 { ... } // the run was refused before any dial
package benchtest

import (
	"net"
	"sync/atomic"
	"testing"
)

// Serve listens on 127.0.0.1:0 until the test ends and hands every
// connection it accepts to keep, in the accept loop (it must not block):
// the ones it keeps are closed when the test ends, the others at once.
// accepted counts the connections so far.
func Serve(t testing.TB, keep func(net.Conn) bool) (addr string, accepted func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			if keep(c) {
				held = append(held, c)
			} else {
				c.Close()
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range held {
			c.Close()
		}
	})
	return ln.Addr().String(), func() int { return int(n.Load()) }
}

// Counter is Serve closing every connection: a server that shows whether
// a run dialed at all.
func Counter(t testing.TB) (addr string, accepted func() int) {
	t.Helper()
	return Serve(t, func(net.Conn) bool { return false })
}
