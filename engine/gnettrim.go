package engine

import (
	"net"
	"reflect"
	"sync/atomic"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// gnet keeps, in every connection it holds, copies the engine has no use
// for, about 200 bytes of heap in six objects per connection:
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
//
// Enroll cannot be told not to keep them (it takes the *net.TCPConn's own
// addresses), so trimGnetConn clears those four fields of gnet's conn once
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
	typ                                reflect.Type // *gnet.conn
	ok                                 bool         // all four found with the expected types
	remote, local, remoteAddr, safeCtx uintptr
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
	found := 0
	for _, want := range []struct {
		name string
		typ  reflect.Type
		off  *uintptr
	}{{"remote", sockaddr, &f.remote}, {"localAddr", addr, &f.local}, {"remoteAddr", addr, &f.remoteAddr}, {"safeCtx", safe, &f.safeCtx}} {
		if sf, ok := st.FieldByName(want.name); ok && sf.Type == want.typ && len(sf.Index) == 1 {
			*want.off = sf.Offset
			found++
		}
	}
	f.ok = found == 4
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
}
