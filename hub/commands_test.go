package hub_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"edgews/codec"
	"edgews/engine"
	"edgews/hub"
)

// jsonHeader offers the JSON subprotocol at connect time.
const jsonHeader = "Sec-WebSocket-Protocol: " + hub.ProtocolJSON

// openAs opens target ("/chat?name=alice") on loop i, speaking JSON or
// text, and returns it with its first messages (the greeting) consumed.
func openAs(t testing.TB, p *engine.InProc, target string, i int, json bool) *engine.Conn {
	t.Helper()
	var hdr []string
	if json {
		hdr = append(hdr, jsonHeader)
	}
	c, err := p.Open(target, i, true, hdr...)
	if err != nil {
		t.Fatal(err)
	}
	p.Drain()
	p.Received(c)
	return c
}

// send delivers a text message from c and runs the tasks it posts.
func send(p *engine.InProc, c *engine.Conn, s string) {
	p.Message(c, codec.OpText, []byte(s))
	p.Drain()
}

// trio opens alice (loop 0), bob (loop 1) and carol (loop 0), text clients
// in the lobby.
func trio(t *testing.T, cfg hub.Config) (*engine.InProc, *hub.Hub, []*engine.Conn) {
	t.Helper()
	p, h := newChatConfig(t, 2, cfg)
	cs := []*engine.Conn{
		openAs(t, p, "/chat?name=alice", 0, false),
		openAs(t, p, "/chat?name=bob", 1, false),
		openAs(t, p, "/chat?name=carol", 0, false),
	}
	return p, h, cs
}

// TestChatCommands sends one line from alice and checks what each of
// alice, bob and carol receives.
func TestChatCommands(t *testing.T) {
	all := func(s string) [3][]string { return [3][]string{{s}, {s}, {s}} }
	only := func(s string) [3][]string { return [3][]string{{s}} }
	tests := []struct {
		name string
		send string
		want [3][]string // alice, bob, carol
	}{
		{"message", "hello", all("[alice]: hello")},
		{"empty message", "", all("[alice]: ")},
		{"html is text", "<b>x</b> &amp; <script>", all("[alice]: <b>x</b> &amp; <script>")},
		{"slash escape", "//shrug", all("[alice]: /shrug")},
		{"me", "/me waves", all("* alice waves")},
		{"me upper-case command", "/ME waves", all("* alice waves")},
		{"me without action", "/me", only("error: usage: /me ACTION")},
		{"whisper", "/whisper bob psst", [3][]string{{"[alice -> bob]: psst"}, {"[alice -> bob]: psst"}}},
		{"whisper alias", "/w bob  two  words ", [3][]string{{"[alice -> bob]: two  words"}, {"[alice -> bob]: two  words"}}},
		{"whisper any case", "/w BOB hi", [3][]string{{"[alice -> bob]: hi"}, {"[alice -> bob]: hi"}}},
		{"whisper to self", "/w alice hi", only("error: you cannot whisper to yourself")},
		{"whisper to self any case", "/w Alice hi", only("error: you cannot whisper to yourself")},
		{"whisper to unknown", "/w zed hi", only(`error: no user named "zed"`)},
		{"whisper to invalid name", "/w ../ hi", only(`error: no user named "../"`)},
		{"whisper without text", "/w bob", only("error: usage: /whisper NAME TEXT")},
		{"whisper without name", "/whisper", only("error: usage: /whisper NAME TEXT")},
		{"users", "/users", only("*** 3 in lobby: alice, bob, carol")},
		{"unknown command", "/dance now", only(`error: unknown command "/dance"; /help lists the commands`)},
		{"slash alone", "/", only(`error: unknown command "/"; /help lists the commands`)},
		{"nick", "/nick al", all("*** alice is now known as al")},
		{"nick case change", "/nick Alice", all("*** alice is now known as Alice")},
		{"nick without name", "/nick", only("error: usage: /nick NAME")},
		{"nick taken", "/nick bob", only(`error: name "bob" is taken`)},
		{"nick taken other case", "/nick BOB", only(`error: name "BOB" is taken`)},
		{"nick same", "/nick alice", only("error: you are already alice")},
		{"nick with space", "/nick al ice", only(`error: invalid name "al ice": use 1-32 letters, digits, _ or -`)},
		{"nick 33 chars", "/nick " + strings.Repeat("a", 33), only(`error: invalid name "` + strings.Repeat("a", 33) + `": use 1-32 letters, digits, _ or -`)},
		{"nick 32 chars", "/nick " + strings.Repeat("a", 32), all("*** alice is now known as " + strings.Repeat("a", 32))},
		{"nick unicode", "/nick alicé", only(`error: invalid name "alicé": use 1-32 letters, digits, _ or -`)},
		{"nick dot dot slash", "/nick ../", only(`error: invalid name "../": use 1-32 letters, digits, _ or -`)},
		{"nick html", "/nick <b>", only(`error: invalid name "<b>": use 1-32 letters, digits, _ or -`)},
		{"join new room", "/join games", [3][]string{{"*** alice joined games (new room)"}, {"*** alice left lobby"}, {"*** alice left lobby"}}},
		{"join folds case", "/join Games", [3][]string{{"*** alice joined games (new room)"}, {"*** alice left lobby"}, {"*** alice left lobby"}}},
		{"join lobby from lobby", "/join lobby", only("error: you are already in lobby")},
		{"join without room", "/join", only("error: usage: /join ROOM")},
		{"join invalid room", "/join ../etc", only(`error: invalid room name "../etc": use 1-32 letters, digits, _ or -`)},
		{"leave from lobby", "/leave", only("error: you are already in lobby")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _, cs := trio(t, hub.Config{Shards: 4})
			send(p, cs[0], tt.send)
			for i, c := range cs {
				if got := p.Received(c); !slices.Equal(got, tt.want[i]) {
					t.Errorf("user %d got %q, want %q", i, got, tt.want[i])
				}
			}
		})
	}
}

func TestChatHelp(t *testing.T) {
	p, _, cs := trio(t, hub.Config{})
	send(p, cs[1], "/help")
	got := p.Received(cs[1])
	if len(got) != 1 || !strings.HasPrefix(got[0], "commands:\n") {
		t.Fatalf("help = %q", got)
	}
	for _, cmd := range []string{"/nick", "/whisper", "/me", "/join", "/leave", "/users", "/help"} {
		if !strings.Contains(got[0], cmd) {
			t.Errorf("help does not mention %s", cmd)
		}
	}
	if got := p.Received(cs[0]); len(got) != 0 {
		t.Fatalf("others got %q", got)
	}
}

// After a rename the new name is used everywhere and the old one is free.
func TestChatRename(t *testing.T) {
	p, _, cs := trio(t, hub.Config{})
	alice, bob, carol := cs[0], cs[1], cs[2]
	send(p, alice, "/nick ally")
	for _, c := range cs {
		p.Received(c)
	}
	send(p, alice, "hi")
	if got := p.Received(bob); !slices.Equal(got, []string{"[ally]: hi"}) {
		t.Fatalf("bob got %q", got)
	}
	p.Received(alice)
	p.Received(carol)
	send(p, bob, "/w alice x")
	if got := p.Received(bob); !slices.Equal(got, []string{`error: no user named "alice"`}) {
		t.Fatalf("whisper to the old name: %q", got)
	}
	send(p, bob, "/w ally x")
	if got := p.Received(alice); !slices.Equal(got, []string{"[bob -> ally]: x"}) {
		t.Fatalf("whisper to the new name: %q", got)
	}
	send(p, carol, "/nick alice") // the old name is free
	if got := p.Received(bob); !slices.Equal(got, []string{"[bob -> ally]: x", "*** carol is now known as alice"}) {
		t.Fatalf("bob got %q", got)
	}
	send(p, bob, "/users")
	if got := p.Received(bob); !slices.Equal(got, []string{"*** 3 in lobby: alice, ally, bob"}) {
		t.Fatalf("users %q", got)
	}
}

// A name asked for at connect time is given if valid and free; else the
// client gets an error line and a generated name.
func TestChatNameAtConnect(t *testing.T) {
	tests := []struct {
		name   string
		target string
		want   []string
	}{
		{"free", "/chat?name=dave", []string{"You are connected! There are 2 users here."}},
		{"empty", "/chat?name=", []string{"You are connected! There are 2 users here."}},
		{"taken", "/chat?name=alice", []string{"You are connected! There are 2 users here.", `error: name "alice" is taken; you are user0`}},
		{"taken other case", "/chat?name=ALICE", []string{"You are connected! There are 2 users here.", `error: name "ALICE" is taken; you are user0`}},
		{"space", "/chat?name=a+b", []string{"You are connected! There are 2 users here.", `error: invalid name "a b": use 1-32 letters, digits, _ or -; you are user0`}},
		{"33 chars", "/chat?name=" + strings.Repeat("x", 33), []string{"You are connected! There are 2 users here.", `error: invalid name "` + strings.Repeat("x", 33) + `": use 1-32 letters, digits, _ or -; you are user0`}},
		{"unicode", "/chat?name=%C3%A9", []string{"You are connected! There are 2 users here.", `error: invalid name "é": use 1-32 letters, digits, _ or -; you are user0`}},
		{"dot dot slash", "/chat?name=..%2F", []string{"You are connected! There are 2 users here.", `error: invalid name "../": use 1-32 letters, digits, _ or -; you are user0`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := newChat(t, 2)
			alice := openAs(t, p, "/chat?name=alice", 0, false)
			c, err := p.Open(tt.target, 1, true)
			if err != nil {
				t.Fatal(err)
			}
			p.Drain()
			if got := p.Received(c); !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			send(p, alice, "/users")
			if got := p.Received(alice); len(got) != 1 || !strings.HasPrefix(got[0], "*** 2 in lobby: ") {
				t.Fatalf("users %q", got)
			}
		})
	}
}

// Rooms: messages reach only the sender's room; moves are announced to
// both rooms; a room is new again once everyone has left it.
func TestChatRooms(t *testing.T) {
	p, h, cs := trio(t, hub.Config{})
	alice, bob, carol := cs[0], cs[1], cs[2]
	expect := func(c *engine.Conn, want ...string) {
		t.Helper()
		if got := p.Received(c); !slices.Equal(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	send(p, alice, "/join games")
	expect(alice, "*** alice joined games (new room)")
	expect(bob, "*** alice left lobby")
	expect(carol, "*** alice left lobby")
	send(p, bob, "/join games") // exists now
	expect(alice, "*** bob joined games")
	expect(bob, "*** bob joined games")
	expect(carol, "*** bob left lobby")
	if h.Rooms() != 2 {
		t.Fatalf("Rooms = %d, want 2", h.Rooms())
	}
	send(p, alice, "in games")
	expect(alice, "[alice]: in games")
	expect(bob, "[alice]: in games")
	expect(carol)
	send(p, carol, "in lobby")
	expect(alice)
	expect(bob)
	expect(carol, "[carol]: in lobby")
	send(p, bob, "/users")
	expect(bob, "*** 2 in games: alice, bob")
	send(p, bob, "/join games")
	expect(bob, "error: you are already in games")
	// Whispers cross rooms; renames are told to the renamer's room only.
	send(p, carol, "/w alice hi")
	expect(alice, "[carol -> alice]: hi")
	expect(carol, "[carol -> alice]: hi")
	send(p, alice, "/nick al")
	expect(alice, "*** alice is now known as al")
	expect(bob, "*** alice is now known as al")
	expect(carol)
	send(p, alice, "/leave")
	expect(alice, "*** al joined lobby")
	expect(bob, "*** al left games")
	expect(carol, "*** al joined lobby")
	send(p, bob, "/leave")
	expect(bob, "*** bob joined lobby")
	if h.Rooms() != 1 {
		t.Fatalf("Rooms = %d after games emptied, want 1", h.Rooms())
	}
	send(p, bob, "/join games")
	expect(bob, "*** bob joined games (new room)")
	// A disconnect in a room is not announced to text clients.
	p.Disconnect(bob)
	p.Drain()
	if h.Rooms() != 1 || h.Users() != 2 {
		t.Fatalf("Rooms, Users = %d, %d after the last one left games", h.Rooms(), h.Users())
	}
}

// 100 rooms with 3 members each spread over 2 loops: every message reaches
// exactly its room.
func TestChatManyRooms(t *testing.T) {
	const rooms, per = 100, 3
	p, h := newChat(t, 2)
	conns := make([][]*engine.Conn, rooms)
	for r := range conns {
		for i := 0; i < per; i++ {
			c := openAs(t, p, fmt.Sprintf("/chat?name=r%dm%d", r, i), (r+i)%2, false)
			send(p, c, fmt.Sprintf("/join room%d", r))
			conns[r] = append(conns[r], c)
		}
	}
	for _, cs := range conns {
		for _, c := range cs {
			p.Received(c)
		}
	}
	if h.Rooms() != rooms {
		t.Fatalf("Rooms = %d, want %d (the lobby is empty)", h.Rooms(), rooms)
	}
	for r, cs := range conns {
		for i, c := range cs {
			p.Message(c, codec.OpText, []byte(fmt.Sprintf("m%d.%d", r, i)))
		}
	}
	p.Drain()
	for r, cs := range conns {
		var want []string
		for i := range cs {
			want = append(want, fmt.Sprintf("[r%dm%d]: m%d.%d", r, i, r, i))
		}
		for i, c := range cs {
			got := p.Received(c)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("room %d member %d got %q, want %q", r, i, got, want)
			}
		}
	}
}

// Lines read together are answered in order, and a sender that moves on
// still gets what it said in the room it left (delivery lists change in
// posted order, after the broadcasts posted before).
func TestChatOrderWithinOneRead(t *testing.T) {
	p, _, cs := trio(t, hub.Config{})
	alice, bob := cs[0], cs[1]
	for _, line := range []string{"hello", "/nick al", "/users", "/join games", "in games", "/leave", "/bogus"} {
		p.Message(alice, codec.OpText, []byte(line))
	}
	p.Drain()
	want := []string{
		"[alice]: hello",
		"*** alice is now known as al",
		"*** 3 in lobby: al, bob, carol",
		"*** al joined games (new room)",
		"[al]: in games",
		"*** al joined lobby",
		`error: unknown command "/bogus"; /help lists the commands`,
	}
	if got := p.Received(alice); !slices.Equal(got, want) {
		t.Fatalf("alice got\n%q\nwant\n%q", got, want)
	}
	want = []string{"[alice]: hello", "*** alice is now known as al", "*** al left lobby", "*** al joined lobby"}
	if got := p.Received(bob); !slices.Equal(got, want) {
		t.Fatalf("bob got\n%q\nwant\n%q", got, want)
	}
	// A move and a disconnect in one read leave nothing behind.
	p.Message(alice, codec.OpText, []byte("/join games"))
	p.Disconnect(alice)
	p.Drain()
	send(p, bob, "/join games")
	if got := p.Received(bob); !slices.Equal(got, []string{"*** al left lobby", "*** bob joined games (new room)"}) {
		t.Fatalf("bob got %q", got)
	}
}
