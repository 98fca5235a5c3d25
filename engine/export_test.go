package engine

import (
	"reflect"
	"unsafe"
)

// GnetCopies reports whether gnet still holds what trimGnetConn clears:
// c's LocalAddr, RemoteAddr, peer sockaddr and safe-context pointer (see
// gnettrim.go). Loop only.
func GnetCopies(c *Conn) (local, remote, sockaddr, safeCtx bool) {
	v := reflect.ValueOf(c.gc).Elem()
	sc := v.FieldByName("safeCtx")
	held := *(*unsafe.Pointer)(unsafe.Pointer(sc.UnsafeAddr())) != nil // atomic.Pointer's only pointer
	return c.gc.LocalAddr() != nil, c.gc.RemoteAddr() != nil, !v.FieldByName("remote").IsNil(), held
}

// SetUpgradeQueue sets the queue length per upgrade worker of servers
// created from now on, and returns a function that restores it.
func SetUpgradeQueue(n int) (restore func()) {
	old := upgradeQueuePerWorker
	upgradeQueuePerWorker = n
	return func() { upgradeQueuePerWorker = old }
}
