package hub_test

import (
	"crypto/tls"
	"strings"
	"testing"

	"edgews/codec"
	"edgews/engine"
	"edgews/hub"
)

// newTLSChat is newChat on a TLS server: InProc's connections run the
// record layer on both sides (see engine.InProcTLSSuite).
func newTLSChat(tb testing.TB, loops int) (*engine.InProc, *hub.Hub) {
	tb.Helper()
	p := engine.NewInProc(engine.Config{TLS: &tls.Config{}}, loops)
	return p, hub.New(p.Server(), hub.Config{Shards: 4})
}

// TestChatOverTLS: a broadcast, encoded once and shared, is sealed per
// member at flush time; every member opens its own records.
func TestChatOverTLS(t *testing.T) {
	p, _ := newTLSChat(t, 2)
	var members []*engine.Conn
	for i := range 4 {
		c, err := p.Open("/chat", i%2, true)
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, c)
	}
	p.Drain()
	for _, c := range members {
		p.Received(c)
	}
	p.Message(members[0], codec.OpText, []byte("hello over TLS"))
	p.Drain()
	for i, c := range members {
		got := p.Received(c)
		if len(got) != 1 || !strings.HasSuffix(got[0], ": hello over TLS") {
			t.Fatalf("member %d received %q", i, got)
		}
	}
}

// BenchmarkBroadcast2kTLS is BenchmarkBroadcast2kJSON over TLS 1.3
// (AES-128-GCM): the 1 KiB frame is shared, and each member's record is
// sealed at flush time in the loop's scratch. Compare its cpu-ns/delivery
// with BenchmarkBroadcast2kJSON's in the same run.
func BenchmarkBroadcast2kTLS(b *testing.B) {
	p, _ := newTLSChat(b, 2)
	conns := openMembers(b, p, 2000, func(int) []string { return []string{jsonHeader} })
	runBroadcast(b, p, conns, []byte(`{"type":"message","text":"`+chatText(900)+`"}`))
}
