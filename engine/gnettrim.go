package engine

import (
	"net"
	"reflect"
	"sync/atomic"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/netpoll"
	"golang.org/x/sys/unix"
)

// gnet keeps, in every connection it holds, copies the engine has no use
// for, about 216 bytes of heap in seven objects per connection:
//
//   - the addresses of the *net.TCPConn the acceptor enrolled: its
//     LocalAddr and RemoteAddr (two *net.TCPAddr, each keeping alive the
//     syscall.Sockaddr its IP points into), and a unix.Sockaddr of the peer
//     made by re-resolving its string. gnet uses them only for UDP and for
//     Conn.LocalAddr/RemoteAddr, which the engine calls once, in OnOpen: it
//     keeps the peer as a netip.AddrPort inside Conn, with no heap.
//   - a pointer to a copy of the "safe context" Enroll sets (16 bytes): the
//     acceptor's enrollTicket (see accept.go), which the engine never reads
//     there (it uses Context, on the loop).
//   - the method value c.processIO in its poll attachment (a 16-byte
//     closure), which only gnet's poll_opt reactor calls: the default one
//     finds the conn in its fd map and calls processIO itself. Cleared only
//     when built without the poll_opt tag (gnetPollOpt), which is the
//     build gnet and this package share. It was the one long-lived object
//     per connection in the 16-byte size class, among ten 16-byte garbage
//     objects per accept, so it kept those spans part-empty after a wave
//     (README, Idle memory).
//
// Enroll cannot be told not to keep them (it takes the *net.TCPConn's own
// addresses), so trimGnetConn clears those fields of gnet's conn once
// OnOpen has read them, on the loop that owns the connection. gnet's
// release() accepts nil there (as after its own close), and SafeContext
// returns nil.
//
// The fields are found by name and type with reflect, once per concrete
// type. If gnet's conn does not have them as expected (another gnet
// version), nothing is cleared and TestConnAddressesAndRequest fails, so
// an upgrade can neither silently bring the bytes back nor write to the
// wrong field.

// gnetFieldsOf are the offsets of the trimmed fields in one gnet conn type.
type gnetFieldsOf struct {
	typ                                      reflect.Type // *gnet.conn
	ok                                       bool         // all five found with the expected types
	remote, local, remoteAddr, safeCtx, poll uintptr
}

var gnetFields atomic.Pointer[gnetFieldsOf]

// gnetLayout looks the fields up in t, a pointer type.
func gnetLayout(t reflect.Type) *gnetFieldsOf {
	f := &gnetFieldsOf{typ: t}
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct ||
		t.Elem().PkgPath() != reflect.TypeFor[gnet.Action]().PkgPath() || t.Elem().Name() != "conn" {
		return f
	}
	st := t.Elem()
	sockaddr, addr, safe := reflect.TypeFor[unix.Sockaddr](), reflect.TypeFor[net.Addr](), reflect.TypeFor[atomic.Pointer[any]]()
	fields := []struct {
		name string
		typ  reflect.Type
		off  *uintptr
	}{{"remote", sockaddr, &f.remote}, {"localAddr", addr, &f.local}, {"remoteAddr", addr, &f.remoteAddr}, {"safeCtx", safe, &f.safeCtx},
		{"pollAttachment", reflect.TypeFor[netpoll.PollAttachment](), &f.poll}}
	found := 0
	for _, want := range fields {
		if sf, ok := st.FieldByName(want.name); ok && sf.Type == want.typ && len(sf.Index) == 1 {
			*want.off = sf.Offset
			found++
		}
	}
	f.ok = found == len(fields)
	return f
}

// trimGnetConn clears gnet's copies of gc's addresses and its empty safe
// context (see above). Loop only: gnet reads them on the loop.
func trimGnetConn(gc gnet.Conn) {
	v := reflect.ValueOf(gc)
	f := gnetFields.Load()
	if f == nil || f.typ != v.Type() {
		f = gnetLayout(v.Type())
		gnetFields.Store(f)
	}
	if !f.ok {
		return
	}
	p := v.UnsafePointer()
	*(*unix.Sockaddr)(unsafe.Add(p, f.remote)) = nil
	*(*net.Addr)(unsafe.Add(p, f.local)) = nil
	*(*net.Addr)(unsafe.Add(p, f.remoteAddr)) = nil
	if sc := (*atomic.Pointer[any])(unsafe.Add(p, f.safeCtx)); sc.Load() != nil {
		if _, ours := (*sc.Load()).(*enrollTicket); ours || *sc.Load() == nil {
			sc.Store(nil) // only the context the acceptor enrolled with
		}
	}
	if !gnetPollOpt {
		(*netpoll.PollAttachment)(unsafe.Add(p, f.poll)).Callback = nil
	}
}
