package bench

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
)

// Source addresses (Config.SourceAddrs): one source address holds at
// most one connection per ephemeral port to a given server address
// (about 28,000 with Linux's default range), so a machine that must hold
// more binds its connections to several of its addresses, round robin.
// Every address must be this machine's: one that is not is refused before
// the first dial, naming it, rather than failing every connection bound
// to it.

// MaxSourceAddrs bounds the addresses Config.SourceAddrs may expand to.
const MaxSourceAddrs = 4096

// ParseSourceAddrs expands a list of IPs, CIDRs ("10.0.0.0/28": its host
// addresses, without the network and broadcast ones of an IPv4 prefix up
// to /30) and first-last ranges ("127.0.0.2-127.0.0.5"), each possibly
// comma-separated, into addresses, in order, without duplicates.
func ParseSourceAddrs(items []string) ([]string, error) {
	var out []string
	seen := map[netip.Addr]bool{}
	add := func(a netip.Addr) error {
		a = a.Unmap()
		if seen[a] {
			return nil
		}
		if len(out) == MaxSourceAddrs {
			return fmt.Errorf("bench: more than %d source addresses", MaxSourceAddrs)
		}
		seen[a] = true
		out = append(out, a.String())
		return nil
	}
	for _, item := range items {
		for _, f := range strings.Split(item, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			if err := expandSource(f, add); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// expandSource calls add for each address of one item.
func expandSource(f string, add func(netip.Addr) error) error {
	switch {
	case strings.Contains(f, "/"):
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return fmt.Errorf("bench: source addresses: bad CIDR %q", f)
		}
		p = p.Masked()
		first, last := p.Addr(), lastOf(p)
		if p.Addr().Is4() && p.Bits() <= 30 {
			first, last = first.Next(), last.Prev() // not the network or broadcast address
		}
		return addRange(f, first, last, add)
	case strings.Contains(f, "-"):
		lo, hi, _ := strings.Cut(f, "-")
		a, err1 := netip.ParseAddr(strings.TrimSpace(lo))
		b, err2 := netip.ParseAddr(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil || a.Is4() != b.Is4() || b.Less(a) {
			return fmt.Errorf("bench: source addresses: bad range %q (want FIRST-LAST, two addresses of one family, in order)", f)
		}
		return addRange(f, a, b, add)
	}
	a, err := netip.ParseAddr(f)
	if err != nil {
		return fmt.Errorf("bench: source addresses: %q is not an IP, a CIDR or a FIRST-LAST range", f)
	}
	return add(a)
}

// addRange adds first..last, refusing a range too long before walking it.
func addRange(f string, first, last netip.Addr, add func(netip.Addr) error) error {
	n := 0
	for a := first; a.IsValid() && !last.Less(a); a = a.Next() {
		if n++; n > MaxSourceAddrs {
			return fmt.Errorf("bench: source addresses: %q has more than %d addresses", f, MaxSourceAddrs)
		}
		if err := add(a); err != nil {
			return err
		}
	}
	return nil
}

// lastOf is the last address of a prefix.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// checkLocal refuses addresses this machine cannot send from: a bind to
// each must succeed (the kernel's own test: EADDRNOTAVAIL for an address
// that is not local).
func checkLocal(addrs []string) error {
	var bad []string
	var why error
	for _, a := range addrs {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(a, "0"))
		if err != nil {
			bad = append(bad, a)
			why = err
			continue
		}
		pc.Close()
	}
	if len(bad) == 0 {
		return nil
	}
	list := strings.Join(bad[:min(len(bad), 8)], ", ")
	if len(bad) > 8 {
		list += fmt.Sprintf(" and %d more", len(bad)-8)
	}
	return fmt.Errorf("bench: source address %s is not local to this machine (%v): bind only this machine's addresses (ip addr add ADDR dev IFACE), local now: %s",
		list, unwrapOp(why), localAddrs())
}

// unwrapOp drops net.OpError's "listen udp ADDR:" prefix.
func unwrapOp(err error) error {
	if oe, ok := err.(*net.OpError); ok && oe.Err != nil {
		return oe.Err
	}
	return err
}

// localAddrs lists the interfaces' addresses, for the error above.
func localAddrs() string {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return "unknown"
	}
	var s []string
	for _, a := range as {
		s = append(s, a.String())
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

// explicitSources is planSources for Config.SourceAddrs: the addresses,
// local and of host's family, with enough ephemeral ports between them.
func explicitSources(cfg *Config, host string) (sourcePlan, error) {
	var p sourcePlan
	for _, s := range cfg.SourceAddrs {
		ip := net.ParseIP(s)
		if ip == nil {
			return p, fmt.Errorf("bench: source address %q is not an IP (expand lists with ParseSourceAddrs)", s)
		}
		p.addrs = append(p.addrs, ip)
	}
	if dst := net.ParseIP(host); dst != nil {
		for _, ip := range p.addrs {
			if (ip.To4() == nil) != (dst.To4() == nil) {
				return p, fmt.Errorf("bench: source address %s cannot reach %s: not the same IP family", ip, host)
			}
		}
	}
	lo, hi := portRange()
	if per := (cfg.machineUsers() + len(p.addrs) - 1) / len(p.addrs); per > hi-lo+1 {
		return p, &FailError{Reason: ReasonPorts, Msg: fmt.Sprintf(
			"bench: %d connections over %d source addresses is %d per address, over the %d ephemeral ports of net.ipv4.ip_local_port_range %d-%d: give more source addresses",
			cfg.machineUsers(), len(p.addrs), per, hi-lo+1, lo, hi)}
	}
	return p, checkLocal(cfg.SourceAddrs)
}

// SourceCount is the connections opened from one source address.
type SourceCount struct {
	Addr      string `json:"addr"`
	Connected int    `json:"connected"`
}

// sourceCounts is the per-source part of a worker's result.
func (w *worker) sourceCounts() []SourceCount {
	var out []SourceCount
	for i := range w.srcN {
		if n := int(w.srcN[i].Load()); n > 0 {
			out = append(out, SourceCount{Addr: w.sources.addr(i), Connected: n})
		}
	}
	return out
}

// mergeSources adds b's counts into a, by address, in address order.
func mergeSources(a, b []SourceCount) []SourceCount {
	for _, s := range b {
		i := sort.Search(len(a), func(i int) bool { return !sourceLess(a[i].Addr, s.Addr) })
		if i < len(a) && a[i].Addr == s.Addr {
			a[i].Connected += s.Connected
			continue
		}
		a = append(a, SourceCount{})
		copy(a[i+1:], a[i:])
		a[i] = s
	}
	return a
}

// sourceLess orders addresses numerically (127.0.0.10 after 127.0.0.9).
func sourceLess(a, b string) bool {
	x, e1 := netip.ParseAddr(a)
	y, e2 := netip.ParseAddr(b)
	if e1 != nil || e2 != nil {
		return a < b
	}
	return x.Less(y)
}

// sourceIndex is the index of user i's source address in the plan, -1
// for the kernel's choice.
func (p sourcePlan) index(i int) int {
	switch {
	case len(p.addrs) > 0:
		return i % len(p.addrs)
	case p.spread:
		return i / p.perSource
	}
	return -1
}

// count is how many source addresses the plan has.
func (p sourcePlan) count() int {
	switch {
	case len(p.addrs) > 0:
		return len(p.addrs)
	case p.spread:
		return maxSources
	}
	return 0
}

// addr is source address k as text.
func (p sourcePlan) addr(k int) string {
	if len(p.addrs) > 0 {
		return p.addrs[k].String()
	}
	return net.IPv4(127, 0, 0, byte(2+k)).String()
}

// ipAt is source address k.
func (p sourcePlan) ipAt(k int) net.IP {
	if len(p.addrs) > 0 {
		return p.addrs[k]
	}
	return net.IPv4(127, 0, 0, byte(2+k))
}

// sourceOpened counts a connection of user id opened from its source.
func (w *worker) sourceOpened(id int) {
	if k := w.sources.index(id); k >= 0 && k < len(w.srcN) {
		w.srcN[k].Add(1)
	}
}

// machineUsers is how many users this machine's workers hold.
func (c *Config) machineUsers() int {
	if c.LocalUsers > 0 {
		return c.LocalUsers
	}
	return c.users()
}
