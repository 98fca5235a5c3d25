package hub_test

import (
	"strings"
	"testing"

	"edgews/codec"
	"edgews/engine"
	"edgews/hub"
)

const deflateHeader = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"

// newCompressedChat is newChat on a server with compression on.
func newCompressedChat(t testing.TB, loops int) (*engine.InProc, *hub.Hub) {
	t.Helper()
	p := engine.NewInProc(engine.Config{Compression: true}, loops)
	return p, hub.New(p.Server(), hub.Config{Shards: 4})
}

// chatText is a chat line of about n bytes, with the repeated words of a
// conversation.
func chatText(n int) string {
	words := strings.Fields("so I was thinking about the release we talked about yesterday and whether the new build is ready for the team to try out this afternoon or if we should wait until the tests are green again on every platform")
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[(i*7+i/5)%len(words)])
	}
	return b.String()[:n]
}

// TestCompressedBroadcast: one broadcast, four kinds of members (text or
// JSON, compressed or not). Each format is compressed once, every member
// gets the same content, compressed exactly when it negotiated it.
func TestCompressedBroadcast(t *testing.T) {
	p, h := newCompressedChat(t, 2)
	type member struct {
		c         *engine.Conn
		json, zip bool
	}
	var ms []member
	for i := 0; i < 8; i++ {
		json, zip := i%2 == 1, i/2%2 == 1
		var hdr []string
		if json {
			hdr = append(hdr, jsonHeader)
		}
		if zip {
			hdr = append(hdr, deflateHeader)
		}
		c, err := p.Open("/chat?name=m"+string(rune('a'+i)), i%2, true, hdr...)
		if err != nil {
			t.Fatal(err)
		}
		if c.Compressed() != zip {
			t.Fatalf("member %d: compressed %v", i, c.Compressed())
		}
		ms = append(ms, member{c: c, json: json, zip: zip})
	}
	p.Drain()
	zipped := make([]int, len(ms)) // presence events may have been compressed
	for i, m := range ms {
		p.Received(m.c)
		zipped[i] = p.CompressedReceived(m.c)
	}
	before := h.Stats().Compressed.Load()
	line := chatText(1000)
	p.Message(ms[0].c, codec.OpText, []byte(line))
	p.Drain()
	if n := h.Stats().Compressed.Load() - before; n != 2 {
		t.Fatalf("%d compressions for one broadcast to both formats, want 2", n)
	}
	var plain [2]string
	for i, m := range ms {
		got := p.Received(m.c)
		if len(got) != 1 || !strings.Contains(got[0], line) {
			t.Fatalf("member %d received %q", i, got)
		}
		f := 0
		if m.json {
			f = 1
		}
		if plain[f] == "" {
			plain[f] = got[0]
		} else if got[0] != plain[f] {
			t.Fatalf("member %d: %q, others of its format %q", i, got[0], plain[f])
		}
		if z := p.CompressedReceived(m.c) - zipped[i]; z != map[bool]int{true: 1, false: 0}[m.zip] {
			t.Fatalf("member %d (compression %v): %d compressed messages", i, m.zip, z)
		}
	}

	// Under the threshold nothing is compressed.
	p.Message(ms[0].c, codec.OpText, []byte("short"))
	p.Drain()
	if n := h.Stats().Compressed.Load() - before; n != 2 {
		t.Fatalf("a short line was compressed")
	}
}

// TestCompressedWhisperAndWindow: a whisper is compressed for its one
// recipient if it negotiated compression; a client that limited the
// server's window to 256 bytes gets longer messages plain.
func TestCompressedWhisperAndWindow(t *testing.T) {
	p, _ := newCompressedChat(t, 2)
	alice, _ := p.Open("/chat?name=alice", 0, true)
	bob, _ := p.Open("/chat?name=bob", 1, true, deflateHeader)
	carol, _ := p.Open("/chat?name=carol", 1, true, "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=8")
	p.Drain()
	for _, c := range []*engine.Conn{alice, bob, carol} {
		p.Received(c)
	}
	long := chatText(300)
	p.Message(alice, codec.OpText, []byte("/w bob "+long))
	p.Message(alice, codec.OpText, []byte("/w carol "+long))
	p.Drain()
	for _, tc := range []struct {
		c     *engine.Conn
		zip   int
		whose string
	}{{bob, 1, "bob"}, {carol, 0, "carol (window 256 bytes)"}} {
		got := p.Received(tc.c)
		if len(got) != 1 || !strings.Contains(got[0], long) {
			t.Fatalf("%s received %q", tc.whose, got)
		}
		if z := p.CompressedReceived(tc.c); z != tc.zip {
			t.Fatalf("%s: %d compressed, want %d", tc.whose, z, tc.zip)
		}
	}
}
