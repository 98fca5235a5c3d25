package engine

import (
	"reflect"
	"unsafe"
)

// GnetCopies reports whether gnet still holds what trimGnetConn clears:
// c's LocalAddr, RemoteAddr, peer sockaddr, safe-context pointer and poll
// callback (see gnettrim.go). Loop only.
func GnetCopies(c *Conn) (local, remote, sockaddr, safeCtx, callback bool) {
	v := reflect.ValueOf(c.gc).Elem()
	sc := v.FieldByName("safeCtx")
	held := *(*unsafe.Pointer)(unsafe.Pointer(sc.UnsafeAddr())) != nil // atomic.Pointer's only pointer
	callback = !v.FieldByName("pollAttachment").FieldByName("Callback").IsNil()
	return c.gc.LocalAddr() != nil, c.gc.RemoteAddr() != nil, !v.FieldByName("remote").IsNil(), held, callback
}

// GnetPollOpt is gnetPollOpt: gnet's poll_opt reactor, which calls the
// poll callback, is built in.
const GnetPollOpt = gnetPollOpt

// SetUpgradeQueue sets the queue length per upgrade worker of servers
// created from now on, and returns a function that restores it.
func SetUpgradeQueue(n int) (restore func()) {
	old := upgradeQueuePerWorker
	upgradeQueuePerWorker = n
	return func() { upgradeQueuePerWorker = old }
}

// EvictRound runs on l its part of the eviction round that a node holding
// what it holds now would plan under budget (see overBudget), whatever
// Config.MemoryBudget is. Loop only.
func EvictRound(l *Loop, budget int64) {
	classes := l.mem.byClass
	cut, frac := planEviction(&classes, l.srv.held.Load()-budget*9/10)
	(&evictTask{srv: l.srv, cut: cut, frac: frac}).Run(l)
}

// ExpireMessage makes c's message deadline (set by a partial frame) pass.
// Loop only.
func ExpireMessage(c *Conn) { c.t0 = 1 }

// SweepNow runs l's timer sweep at once. Loop only.
func SweepNow(l *Loop) { (&sweepTask{l: l}).Run(l) }

// Sockets is the server's count of accepted sockets not yet closed.
func Sockets(s *Server) int64 { return s.sockets.Load() }

// HoldsDecoder reports whether c keeps a codec.Decoder of its own between
// reads (see decode.go). Loop only.
func HoldsDecoder(c *Conn) bool { return c.dec != nil }
