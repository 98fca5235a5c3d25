package hub_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"edgews/engine"
	"edgews/hub"
	"edgews/hub/auth"
	"github.com/golang-jwt/jwt/v5"
)

// histEvent is a history, message or me event as a JSON client gets it.
type histEvent struct {
	Type     string      `json:"type"`
	Room     string      `json:"room"`
	From     string      `json:"from"`
	Text     string      `json:"text"`
	TS       int64       `json:"ts"`
	Offset   uint64      `json:"offset"`
	Epoch    string      `json:"epoch"`
	Reset    bool        `json:"reset"`
	Messages []histEvent `json:"messages"`
	Event    string      `json:"event"`
	Name     string      `json:"name"`
}

func decodeEvent(t testing.TB, s string) histEvent {
	t.Helper()
	var ev histEvent
	if err := json.Unmarshal([]byte(s), &ev); err != nil {
		t.Fatalf("invalid JSON event %q: %v", s, err)
	}
	return ev
}

// texts lists the "from: text" of messages.
func texts(msgs []histEvent) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.From+": "+m.Text)
	}
	return out
}

func withHistory(n int) hub.Config { return hub.Config{Shards: 4, History: n} }

// A JSON client gets, right after its welcome, the history of the room it
// starts in: the same objects the members got live, oldest first.
func TestHistoryOnConnect(t *testing.T) {
	p, _ := newChatConfig(t, 2, withHistory(3))
	alice := openAs(t, p, "/chat?name=alice", 0, true)
	bob := openAs(t, p, "/chat?name=bob", 1, false)
	p.Received(alice)
	send(p, bob, "one")
	send(p, alice, `{"type":"me","text":"waves"}`)
	send(p, bob, "two")
	send(p, bob, "three")
	live := p.Received(alice)
	if len(live) != 4 {
		t.Fatalf("alice got %q", live)
	}
	for i, s := range live {
		if ev := decodeEvent(t, s); ev.Offset != uint64(i+1) || ev.Epoch == "" {
			t.Fatalf("live event %d: %s", i, s)
		}
	}

	carol, err := p.Open("/chat?name=carol", 1, true, jsonHeader)
	if err != nil {
		t.Fatal(err)
	}
	p.Drain()
	got := p.Received(carol)
	if len(got) != 2 || decodeEvent(t, got[0]).Type != "welcome" {
		t.Fatalf("carol got %q, want welcome then history", got)
	}
	// The history holds the newest 3, byte for byte as they went live.
	want := `{"type":"history","room":"lobby","epoch":` + jsonQuote(decodeEvent(t, live[0]).Epoch) +
		`,"messages":[` + strings.Join(live[1:], ",") + `]}`
	if got[1] != want {
		t.Fatalf("history\n got %s\nwant %s", got[1], want)
	}
	// Text clients keep the tutorial's connect: the greeting only.
	dave, err := p.Open("/chat?name=dave", 0, true)
	if err != nil {
		t.Fatal(err)
	}
	p.Drain()
	if got := p.Received(dave); !slices.Equal(got, []string{"You are connected! There are 4 users here."}) {
		t.Fatalf("text client got %q", got)
	}
	// Live messages continue after the history's last offset.
	p.Received(carol) // dave's connect
	send(p, bob, "four")
	if ev := decodeEvent(t, p.Received(carol)[0]); ev.Offset != 5 || ev.Text != "four" {
		t.Fatalf("carol's next message: %+v", ev)
	}
}

func jsonQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

// Joining a room sends its history after the join; joining with since
// and epoch sends exactly what came after since; ?room= starts a client
// in a room, with or without resuming.
func TestHistoryOnJoinAndResume(t *testing.T) {
	p, _ := newChatConfig(t, 2, withHistory(50))
	bob := openAs(t, p, "/chat?name=bob&room=games", 1, false)
	for i := 1; i <= 5; i++ {
		send(p, bob, fmt.Sprint("g", i))
	}
	alice := openAs(t, p, "/chat?name=alice", 0, true)
	send(p, alice, `{"type":"join","room":"Games"}`)
	got := p.Received(alice)
	if len(got) != 2 {
		t.Fatalf("alice got %q, want joined then history", got)
	}
	if ev := decodeEvent(t, got[0]); ev.Type != "presence" || ev.Event != "joined" || ev.Name != "alice" {
		t.Fatalf("first after join: %s", got[0])
	}
	hist := decodeEvent(t, got[1])
	if hist.Type != "history" || hist.Room != "games" || hist.Reset || len(hist.Messages) != 5 || hist.Messages[4].Offset != 5 {
		t.Fatalf("history: %s", got[1])
	}
	epoch := hist.Epoch

	send(p, alice, `{"type":"leave"}`)
	send(p, bob, "g6")
	send(p, bob, "g7")
	p.Received(alice)
	send(p, alice, fmt.Sprintf(`{"type":"join","room":"games","since":5,"epoch":%q}`, epoch))
	got = p.Received(alice)
	hist = decodeEvent(t, got[len(got)-1])
	if hist.Reset || !slices.Equal(texts(hist.Messages), []string{"bob: g6", "bob: g7"}) || hist.Messages[0].Offset != 6 {
		t.Fatalf("resume after 5: %s", got[len(got)-1])
	}

	// At connect: ?room= with and without a resume.
	carol, err := p.Open(fmt.Sprintf("/chat?name=carol&room=games&since=6&epoch=%s", epoch), 0, true, jsonHeader)
	if err != nil {
		t.Fatal(err)
	}
	dave, err := p.Open("/chat?name=dave&room=games", 1, true, jsonHeader)
	if err != nil {
		t.Fatal(err)
	}
	p.Drain()
	got = p.Received(carol)
	if w := decodeEvent(t, got[0]); w.Type != "welcome" || w.Room != "games" {
		t.Fatalf("carol's welcome: %s", got[0])
	}
	if hist := decodeEvent(t, got[1]); hist.Reset || !slices.Equal(texts(hist.Messages), []string{"bob: g7"}) {
		t.Fatalf("carol's resume: %s", got[1])
	}
	if hist := decodeEvent(t, p.Received(dave)[1]); hist.Reset || len(hist.Messages) != 7 {
		t.Fatalf("dave's history: %+v", hist)
	}
}

// A resume with another epoch (say, from before a restart) or from an
// offset the history no longer holds says reset and gives the newest
// messages.
func TestHistoryResumeReset(t *testing.T) {
	p, h := newChatConfig(t, 2, withHistory(3))
	bob := openAs(t, p, "/chat?name=bob", 1, false)
	for i := 1; i <= 6; i++ {
		send(p, bob, fmt.Sprint("m", i))
	}
	alice := openAs(t, p, "/chat?name=alice&room=games", 0, true)
	var epoch string
	{
		alice2, _ := p.Open("/chat?name=x", 0, true, jsonHeader)
		p.Drain()
		epoch = decodeEvent(t, p.Received(alice2)[1]).Epoch
	}
	tests := []struct {
		name, join string
		reset      bool
		want       []string
	}{
		{"current", fmt.Sprintf(`{"type":"join","room":"lobby","since":5,"epoch":%q}`, epoch), false, []string{"bob: m6"}},
		{"stale epoch", `{"type":"join","room":"lobby","since":5,"epoch":"deadbeef-1"}`, true, []string{"bob: m4", "bob: m5", "bob: m6"}},
		{"too old", fmt.Sprintf(`{"type":"join","room":"lobby","since":2,"epoch":%q}`, epoch), true, []string{"bob: m4", "bob: m5", "bob: m6"}},
		{"since as a string", fmt.Sprintf(`{"type":"join","room":"lobby","since":"4","epoch":%q}`, epoch), false, []string{"bob: m5", "bob: m6"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			send(p, alice, tt.join)
			got := p.Received(alice)
			hist := decodeEvent(t, got[len(got)-1])
			if hist.Type != "history" || hist.Reset != tt.reset || !slices.Equal(texts(hist.Messages), tt.want) {
				t.Fatalf("got %s, want reset %v and %q", got[len(got)-1], tt.reset, tt.want)
			}
			send(p, alice, `{"type":"join","room":"games"}`)
			p.Received(alice)
		})
	}
	if n := h.Stats().HistoryResets.Load(); n != 2 {
		t.Fatalf("HistoryResets = %d, want 2", n)
	}
	send(p, alice, `{"type":"join","room":"lobby","since":-1}`)
	if got := p.Received(alice); len(got) != 1 || decodeEvent(t, got[0]).Type != "error" {
		t.Fatalf("bad since: %q", got)
	}
	// At connect, a bad room or offset is refused and the client starts
	// in the lobby.
	c, _ := p.Open("/chat?name=y&room=no%20way", 1, true)
	p.Drain()
	if got := p.Received(c); len(got) != 2 || !strings.HasPrefix(got[1], "error: invalid room name") {
		t.Fatalf("bad room at connect: %q", got)
	}
}

// /history prints the room's last messages as the lines they were said
// in; a JSON client gets a history event; without history it is an
// error.
func TestHistoryCommand(t *testing.T) {
	p, _, cs := trio(t, withHistory(4))
	alice, bob := cs[0], cs[1]
	send(p, alice, "hi")
	send(p, bob, "/me waves")
	send(p, alice, "/w bob secret") // whispers are not kept
	send(p, bob, "/join games")     // nor notices
	send(p, alice, "how are you")
	for _, c := range cs {
		p.Received(c)
	}
	tests := []struct {
		send string
		want []string
	}{
		{"/history", []string{"*** history of lobby:", "[alice]: hi", "* bob waves", "[alice]: how are you", "*** end of history"}},
		{"/history 1", []string{"*** history of lobby:", "[alice]: how are you", "*** end of history"}},
		{"/history 99", []string{"*** history of lobby:", "[alice]: hi", "* bob waves", "[alice]: how are you", "*** end of history"}},
		{"/history x", []string{"error: usage: /history [N] (N a positive number)"}},
	}
	for _, tt := range tests {
		send(p, alice, tt.send)
		if got := p.Received(alice); !slices.Equal(got, tt.want) {
			t.Fatalf("%s: got %q, want %q", tt.send, got, tt.want)
		}
		if got := p.Received(cs[2]); len(got) != 0 {
			t.Fatalf("%s: carol got %q", tt.send, got)
		}
	}
	send(p, bob, "/history")
	if got := p.Received(bob); !slices.Equal(got, []string{"*** history of games:", "*** end of history"}) {
		t.Fatalf("empty room: %q", got)
	}
	j := openAs(t, p, "/chat?name=json", 0, true)
	send(p, j, "/history 2")
	if hist := decodeEvent(t, p.Received(j)[0]); hist.Type != "history" || !slices.Equal(texts(hist.Messages), []string{"bob: waves", "alice: how are you"}) {
		t.Fatalf("JSON /history: %+v", hist)
	}

	p2, _, cs2 := trio(t, hub.Config{})
	send(p2, cs2[0], "/history")
	if got := p2.Received(cs2[0]); !slices.Equal(got, []string{"error: this node keeps no history"}) {
		t.Fatalf("history off: %q", got)
	}
}

// With history off, messages carry no offset and nobody gets history.
func TestHistoryOff(t *testing.T) {
	p, _ := newChat(t, 1)
	a := openAs(t, p, "/chat?name=a", 0, true)
	send(p, a, "hi")
	if got := p.Received(a); len(got) != 1 || strings.Contains(got[0], "offset") {
		t.Fatalf("got %q", got)
	}
	var _ *engine.Conn = a
}

// ?room= at connect obeys a token's rooms claim, as /join does.
func TestStartRoomObeysTokenRooms(t *testing.T) {
	p, _, _ := authChat(t, auth.Required)
	tok := func(sub string) string {
		return token(t, jwt.MapClaims{"sub": sub, "iss": "app", "rooms": []string{"dev"}})
	}
	c, err := p.Open("/chat?room=games&token="+tok("a"), 0, true)
	if err != nil {
		t.Fatal(err)
	}
	p.Drain()
	got := p.Received(c)
	if len(got) != 2 || got[1] != `error: your token does not let you join "games"` {
		t.Fatalf("?room=games: %q", got)
	}
	send(p, c, "/users")
	if got := p.Received(c); len(got) != 1 || !strings.HasPrefix(got[0], "*** 1 in lobby") {
		t.Fatalf("not in the lobby: %q", got)
	}
	d, err := p.Open("/chat?room=Dev&token="+tok("b"), 1, true)
	if err != nil {
		t.Fatal(err)
	}
	p.Drain()
	p.Received(d)
	send(p, d, "/users")
	if got := p.Received(d); len(got) != 1 || !strings.HasPrefix(got[0], "*** 1 in dev") {
		t.Fatalf("?room=Dev: %q", got)
	}
}

// A room that empties keeps its history (and epoch) until the TTL: the
// next to enter it still gets what was said.
func TestHistoryOutlivesItsMembers(t *testing.T) {
	p, h := newChatConfig(t, 2, withHistory(50))
	bob := openAs(t, p, "/chat?name=bob&room=games", 1, true)
	send(p, bob, "one")
	send(p, bob, "two")
	epoch := decodeEvent(t, p.Received(bob)[1]).Epoch
	send(p, bob, `{"type":"leave"}`)
	if h.Rooms() != 1 {
		t.Fatalf("Rooms = %d, want 1 (games is empty)", h.Rooms())
	}
	alice := openAs(t, p, "/chat?name=alice", 0, true)
	send(p, alice, fmt.Sprintf(`{"type":"join","room":"games","since":1,"epoch":%q}`, epoch))
	got := p.Received(alice)
	if hist := decodeEvent(t, got[len(got)-1]); hist.Reset || hist.Epoch != epoch || !slices.Equal(texts(hist.Messages), []string{"bob: two"}) {
		t.Fatalf("history of the emptied room: %s", got[len(got)-1])
	}
}
