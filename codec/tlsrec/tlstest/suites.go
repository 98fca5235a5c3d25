package tlstest

import (
	"sync"
	"testing"
	_ "unsafe" // go:linkname
)

// crypto/tls has no setting for the TLS 1.3 cipher suites: a Go client
// offers all three, and a Go server picks by its own order. Its two
// preference lists are exported for linkname (crypto/tls/defaults.go: "Do
// not remove or change the type signature"), which is how a test makes Go
// speak one suite: both ends then offer and accept only that one.

//go:linkname defaultCipherSuitesTLS13 crypto/tls.defaultCipherSuitesTLS13
var defaultCipherSuitesTLS13 []uint16

//go:linkname defaultCipherSuitesTLS13NoAES crypto/tls.defaultCipherSuitesTLS13NoAES
var defaultCipherSuitesTLS13NoAES []uint16

var suitesMu sync.Mutex

// OnlySuite makes every crypto/tls handshake of the process offer and
// accept only the TLS 1.3 suite id until the test ends. Tests using it
// must not run in parallel with other TLS tests, and must call it before
// they start the servers and clients it should affect (a server's
// handshake goroutines must start after it, for the race detector's
// happens-before, and stop before the test ends).
func OnlySuite(t testing.TB, id uint16) {
	t.Helper()
	suitesMu.Lock()
	a, b := defaultCipherSuitesTLS13, defaultCipherSuitesTLS13NoAES
	defaultCipherSuitesTLS13, defaultCipherSuitesTLS13NoAES = []uint16{id}, []uint16{id}
	t.Cleanup(func() {
		defaultCipherSuitesTLS13, defaultCipherSuitesTLS13NoAES = a, b
		suitesMu.Unlock()
	})
}
