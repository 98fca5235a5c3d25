package engine

import (
	"net"
	"net/netip"
	"testing"
	"unsafe"
)

// A peerAddr gives back the address it was made from, for every family,
// and a Conn rebuilds the zone from connMore.
func TestPeerAddrRoundTrip(t *testing.T) {
	for _, s := range []string{"127.0.0.1:40000", "10.1.2.3:1", "[::1]:443", "[2001:db8::7]:65535", "[fe80::1%eth0]:8080", "0.0.0.0:0"} {
		want := netip.MustParseAddrPort(s)
		p := makePeerAddr(want)
		c := &Conn{addr: p}
		if z := want.Addr().Zone(); z != "" {
			c.moreState().zone = z
		}
		if got := c.RemoteAddr(); got != want {
			t.Errorf("%s: RemoteAddr = %v", s, got)
		}
		if got := p.addrPort(); got != netip.AddrPortFrom(want.Addr().WithZone(""), want.Port()) {
			t.Errorf("%s: addrPort = %v", s, got)
		}
	}
	if got := (&Conn{}).RemoteAddr(); got.IsValid() {
		t.Errorf("no address: RemoteAddr = %v, want the zero AddrPort", got)
	}
	// gnet's v4-mapped peers (a dual-stack listener) come out as IPv4.
	mapped := addrPortOf(&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.9"), Port: 5})
	if p := makePeerAddr(mapped); p.addrPort() != netip.MustParseAddrPort("192.0.2.9:5") {
		t.Errorf("v4-mapped: %v", p.addrPort())
	}
	if n := unsafe.Sizeof(peerAddr{}); n != 18 {
		t.Errorf("peerAddr is %d bytes, want 18", n)
	}
}
