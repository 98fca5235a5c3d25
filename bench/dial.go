package bench

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"edgews/codec"
	"golang.org/x/sys/unix"
)

// fdSlack is the descriptors a worker needs besides its connections: stdio,
// epoll and eventfd per loop, the dialers' sockets before Enroll dups them.
const fdSlack = 64 + DefaultDialers

// raiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit, which is
// all a process may do, and returns the limit in force.
func raiseFileLimit() int {
	var r syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r) != nil {
		return 1024
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	}
	return int(r.Cur)
}

// fileLimit is the hard RLIMIT_NOFILE: what one process can ever hold.
func fileLimit() int {
	var r syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r) != nil {
		return 1024
	}
	return int(min(r.Max, 1<<31-1))
}

// portRange reads net.ipv4.ip_local_port_range (the kernel default when
// unreadable).
func portRange() (lo, hi int) {
	lo, hi = 32768, 60999
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	f := strings.Fields(string(b))
	if len(f) == 2 {
		l, err1 := strconv.Atoi(f[0])
		h, err2 := strconv.Atoi(f[1])
		if err1 == nil && err2 == nil && h >= l {
			return l, h
		}
	}
	return lo, hi
}

// sourcePlan says which local address dials each user. One source address
// can hold one connection per ephemeral port to a given server address; past
// that the plan spreads users over 127.0.0.2, 127.0.0.3, ... (every 127/8
// address is local on Linux), perSource users each.
type sourcePlan struct {
	perSource int
	spread    bool
	addrs     []net.IP // Config.SourceAddrs, round robin (source.go)
}

// maxSources is how many loopback source addresses the plan may use
// (127.0.0.2 to 127.0.0.254).
const maxSources = 253

func planSources(cfg *Config, host string) (sourcePlan, error) {
	if len(cfg.SourceAddrs) > 0 {
		return explicitSources(cfg, host)
	}
	per := cfg.PerSource
	if per <= 0 {
		// Half the range: connect() searches the range for a free port, and
		// the search gets slow as the range fills (measured here: 30,000
		// connections took 4x the system time and 10x the median connect
		// time at 90% than at 50%).
		lo, hi := portRange()
		per = (hi - lo + 1) / 2
	}
	p := sourcePlan{perSource: per}
	if cfg.machineUsers() <= per {
		return p, nil
	}
	ip := net.ParseIP(host)
	if ip == nil {
		if addrs, err := net.LookupIP(host); err == nil && len(addrs) > 0 {
			ip = addrs[0]
		}
	}
	if ip == nil || !ip.IsLoopback() || ip.To4() == nil {
		lo, hi := portRange()
		return p, &FailError{Reason: ReasonPorts, Msg: fmt.Sprintf(
			"bench: %d connections need more than one source address (%d each, from net.ipv4.ip_local_port_range %d-%d), which the bench spreads over 127.0.0.x only for an IPv4 loopback server, not %s: bind this machine's addresses with --source-addrs",
			cfg.machineUsers(), per, lo, hi, host)}
	}
	if need := (cfg.users() + per - 1) / per; need > maxSources {
		return p, &FailError{Reason: ReasonPorts, Msg: fmt.Sprintf(
			"bench: %d connections at %d per source address need %d source addresses; 127.0.0.2-127.0.0.254 give %d", cfg.users(), per, need, maxSources)}
	}
	p.spread = true
	return p, nil
}

// local is the source address for user i, nil for the kernel's choice.
func (p sourcePlan) local(i int) net.IP {
	if k := p.index(i); k >= 0 {
		return p.ipAt(k)
	}
	return nil
}

// bindNoPort sets IP_BIND_ADDRESS_NO_PORT before the dialer binds the source
// address: the port is then chosen at connect time for the whole 4-tuple
// (as without a bind), not reserved for the address alone, so TIME_WAIT
// sockets of earlier runs can be reused and ports are not burnt.
func bindNoPort(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// dialAll opens the worker's users lo..hi-1 at its share of the ramp rate,
// with cfg.Dialers goroutines (a dial blocks until the TCP connect is done;
// the upgrade then runs on the event loop). Each user is due at its place
// in the ramp, and its connect time counts from then: a user that waits
// for a free dialer (every dialer stuck on a slow server) waits on the
// clock. It returns when every dial has been attempted, or the run was
// aborted.
func (w *worker) dialAll() {
	type due struct {
		id int
		at int64 // clock.go ns
	}
	ids := make(chan due)
	begin := nowNanos()
	w.rampBegin.Store(begin)
	go func() {
		defer close(ids)
		n := w.spec.Hi - w.spec.Lo
		rate := w.cfg.RampRate / float64(w.cfg.Procs)
		for k := range n {
			// User k is due at begin + k/rate: a steady ramp even when a
			// dial is slow, and no burst to catch up beyond one dialer each.
			at := begin + int64(float64(k)/rate*1e9)
			if d := time.Duration(at - nowNanos()); d > 0 {
				select {
				case <-time.After(d):
				case <-w.abort:
					return
				}
			}
			select {
			case ids <- due{w.spec.Lo + k, at}:
			case <-w.abort:
				return
			}
		}
	}()
	for range min(w.cfg.Dialers, w.spec.Hi-w.spec.Lo) {
		w.dialers.Go(func() {
			for u := range ids {
				w.dialOne(u.id, u.at)
			}
		})
	}
	w.dialers.Wait()
}

// dialOne dials user id, due at at, and enrolls the connection into gnet,
// which runs OnOpen (the upgrade request) on one of its loops before
// returning.
func (w *worker) dialOne(id int, at int64) {
	w.dialConn(&conn{id: id, node: w.cfg.NodeOf(id), idx: -1, hidx: -1, dialed: at, role: w.cfg.roleOf(id), tx: w.newSender(id)})
}

// dialConn dials c (user c.id) from its source address and enrolls it.
func (w *worker) dialConn(c *conn) {
	addr := w.targets[c.node].addr
	c.dec = codec.Decoder{Role: codec.RoleClient}
	newKey(&c.key)
	local := w.sources.local(c.id)
	if c.role == roleHog {
		w.dialHog(c, local)
		return
	}
	d := net.Dialer{Timeout: w.cfg.DialTimeout}
	if local != nil {
		d.LocalAddr = &net.TCPAddr{IP: local}
		d.Control = bindNoPort
	}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		w.failed(c.node, dialFailure(err, addr, local, w.cfg.DialTimeout))
		return
	}
	select {
	case <-w.abort:
		nc.Close() // the run is over: do not enroll into a client being stopped
		return
	default:
	}
	if c.mx != nil && c.mx.cancel.Load() {
		nc.Close() // its slot closed while it dialed (pilot.go)
		w.pilot.cancelled()
		return
	}
	// EnrollContext dups the socket into gnet and closes nc; the *conn rides
	// along as the gnet context, so OnOpen finds it without a lookup.
	if _, err := w.cli.EnrollContext(nc, c); err != nil {
		w.failed(c.node, dialFailure(err, addr, local, w.cfg.DialTimeout))
	}
}
