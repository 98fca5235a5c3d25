package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"edgews/engine"
	"edgews/hub"
	"edgews/hub/auth"
	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

// A notice reaches text members as "*** TEXT" and JSON members as a
// notice event, is kept in the history (offset, epoch), shows in /history
// and in a JSON client's history, and can be sent to a room with no
// member (kept for who comes).
func TestNotice(t *testing.T) {
	p, h := newChatConfig(t, 2, hub.Config{Shards: 4, History: 10})
	text := openAs(t, p, "/chat?name=tex", 0, false)
	js := openAs(t, p, "/chat?name=jay", 1, true)
	p.Received(js)
	ctl := h.Control()
	if err := ctl.Publish(context.Background(), []string{"Lobby"}, "maintenance at 22:00"); err != nil {
		t.Fatal(err)
	}
	p.Drain()
	if got := p.Received(text); !slices.Equal(got, []string{"*** maintenance at 22:00"}) {
		t.Fatalf("text member got %q", got)
	}
	got := p.Received(js)
	var ev struct {
		Type, Room, Text, Epoch string
		TS                      int64
		Offset                  uint64
	}
	if len(got) != 1 || json.Unmarshal([]byte(got[0]), &ev) != nil || ev.Type != "notice" || ev.Room != "lobby" ||
		ev.Text != "maintenance at 22:00" || ev.Offset != 1 || ev.Epoch == "" || ev.TS == 0 {
		t.Fatalf("JSON member got %q", got)
	}
	send(p, text, "/history")
	if got := p.Received(text); !slices.Equal(got, []string{"*** history of lobby:", "*** maintenance at 22:00", "*** end of history"}) {
		t.Fatalf("/history: %q", got)
	}
	// Into a room nobody is in: kept, and the newcomer's history has it.
	if err := ctl.Publish(context.Background(), []string{"empty"}, "welcome to empty"); err != nil {
		t.Fatal(err)
	}
	send(p, js, `{"type":"join","room":"empty"}`)
	var hist struct {
		Messages []struct{ Type, Text, From string }
	}
	found := false
	for _, s := range p.Received(js) {
		if strings.HasPrefix(s, `{"type":"history"`) {
			found = json.Unmarshal([]byte(s), &hist) == nil && len(hist.Messages) == 1 &&
				hist.Messages[0].Type == "notice" && hist.Messages[0].Text == "welcome to empty" && hist.Messages[0].From == ""
		}
	}
	if !found {
		t.Fatal("the notice published into an empty room is not in the newcomer's history")
	}
	for _, bad := range []struct {
		rooms []string
		text  string
	}{{nil, "x"}, {[]string{"../x"}, "x"}, {[]string{"lobby"}, ""}, {[]string{"lobby"}, strings.Repeat("x", 4097)}, {[]string{"lobby"}, "\xff"}} {
		var br hub.BadRequest
		if err := ctl.Publish(context.Background(), bad.rooms, bad.text); !errors.As(err, &br) {
			t.Errorf("Publish(%q, %.10q) = %v, want a BadRequest", bad.rooms, bad.text, err)
		}
	}
	if h.Stats().Notices.Load() != 2 {
		t.Fatalf("Notices = %d", h.Stats().Notices.Load())
	}
}

// A muted user's messages (and /me, and whispers when muted everywhere)
// reach nobody, with an error line saying for how long; a room mute
// holds in that room only; unmute and expiry lift it; a mute by sub
// holds whatever the name.
func TestMute(t *testing.T) {
	p, h, cs := trio(t, hub.Config{Shards: 4})
	ctl := h.Control()
	mute := func(tg hub.Target, room string, ttl time.Duration) {
		t.Helper()
		if err := ctl.Mute(context.Background(), hub.Mute{Target: tg, Room: room, Until: time.Now().Add(ttl)}); err != nil {
			t.Fatal(err)
		}
	}
	mute(hub.Target{Name: "ALICE"}, "", time.Minute)
	for _, s := range []string{"hello", "/me waves", "/w bob psst"} {
		send(p, cs[0], s)
		if got := p.Received(cs[0]); len(got) != 1 || (got[0] != "error: you are muted for 60 s" && got[0] != "error: you are muted for 59 s") {
			t.Fatalf("%s: muted sender got %q", s, got)
		}
		if got := p.Received(cs[1]); len(got) != 0 {
			t.Fatalf("%s: bob got %q from a muted user", s, got)
		}
	}
	send(p, cs[1], "bob talks")
	if got := p.Received(cs[0]); !slices.Equal(got, []string{"[bob]: bob talks"}) {
		t.Fatalf("a muted user still reads: %q", got)
	}
	p.Received(cs[1])
	if removed, err := ctl.Unmute(context.Background(), hub.Target{Name: "alice"}, ""); err != nil || !removed {
		t.Fatalf("Unmute = %v, %v", removed, err)
	}
	send(p, cs[0], "free")
	if got := p.Received(cs[1]); !slices.Equal(got, []string{"[alice]: free"}) {
		t.Fatalf("after unmute bob got %q", got)
	}

	// In one room: games. alice talks in the lobby, not in games.
	mute(hub.Target{Name: "alice"}, "games", time.Minute)
	send(p, cs[0], "in lobby")
	if got := p.Received(cs[1]); !slices.Equal(got, []string{"[alice]: in lobby"}) {
		t.Fatalf("room mute of games held in the lobby: %q", got)
	}
	send(p, cs[0], "/join games")
	send(p, cs[0], "in games")
	if got := p.Received(cs[0]); !slices.Contains(got, "error: you are muted for 60 s") && !slices.Contains(got, "error: you are muted for 59 s") {
		t.Fatalf("room mute: alice got %q", got)
	}
	// Expiry.
	mute(hub.Target{Name: "bob"}, "", 50*time.Millisecond)
	time.Sleep(60 * time.Millisecond)
	send(p, cs[1], "expired")
	if got := p.Received(cs[2]); !slices.Contains(got, "[bob]: expired") {
		t.Fatalf("an expired mute still holds: carol got %q", got)
	}
	bans, mutes, _ := ctl.Bans(context.Background())
	if len(bans) != 0 || len(mutes) != 1 || mutes[0].Name != "alice" || mutes[0].Room != "games" {
		t.Fatalf("Bans: %+v %+v", bans, mutes)
	}
	var br hub.BadRequest
	for _, m := range []hub.Mute{
		{Target: hub.Target{Name: "a", User: "b"}, Until: time.Now().Add(time.Minute)},
		{Target: hub.Target{IP: "10.0.0.1"}, Until: time.Now().Add(time.Minute)},
		{Target: hub.Target{Name: "a"}},
		{Target: hub.Target{Name: "a"}, Room: "no room", Until: time.Now().Add(time.Minute)},
	} {
		if err := ctl.Mute(context.Background(), m); !errors.As(err, &br) {
			t.Errorf("Mute(%+v) = %v, want a BadRequest", m, err)
		}
	}

	// By sub: whatever the name of the token's user.
	pa, ha, _ := authChat(t, auth.Optional)
	sam := openTok(t, pa, jwt.MapClaims{"sub": "u-7", "name": "sam"}, 0, false)
	other := openAs(t, pa, "/chat?name=other", 1, false)
	if err := ha.Control().Mute(context.Background(), hub.Mute{Target: hub.Target{User: "u-7"}, Until: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	send(pa, sam, "hi")
	if got := pa.Received(other); len(got) != 0 {
		t.Fatalf("a user muted by sub reached %q", got)
	}
	if h.Stats().Muted.Load() < 4 {
		t.Fatalf("Muted = %d", h.Stats().Muted.Load())
	}
}

// A ban by name or sub refuses the upgrade with 403 (with its reason),
// and /nick to a banned name; unban lifts it. (Control.Ban's disconnect
// and an IP ban are tested over sockets: TestControlOverSockets.)
func TestBan(t *testing.T) {
	p, h, cs := trio(t, hub.Config{Shards: 4})
	h.SetBan(hub.Ban{Target: hub.Target{Name: "troll"}, Until: time.Now().Add(time.Hour), Reason: "spam"})
	if _, err := p.Open("/chat?name=Troll", 0, true); err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "spam") {
		t.Fatalf("banned name: %v", err)
	}
	send(p, cs[0], "/nick TROLL")
	if got := p.Received(cs[0]); !slices.Equal(got, []string{`error: name "TROLL" is banned`}) {
		t.Fatalf("/nick to a banned name: %q", got)
	}
	ctl := h.Control()
	if bans, _, _ := ctl.Bans(context.Background()); len(bans) != 1 || bans[0].Name != "troll" || bans[0].Reason != "spam" {
		t.Fatalf("Bans = %+v", bans)
	}
	if ok, err := ctl.Unban(context.Background(), hub.Target{Name: "TROLL"}); !ok || err != nil {
		t.Fatalf("Unban = %v %v", ok, err)
	}
	if _, err := p.Open("/chat?name=troll", 0, true); err != nil {
		t.Fatalf("after unban: %v", err)
	}
	if ok, _ := ctl.Unban(context.Background(), hub.Target{Name: "troll"}); ok {
		t.Fatal("unbanned twice")
	}
	h.SetBan(hub.Ban{Target: hub.Target{Name: "gone"}, Until: time.Now().Add(-time.Second)})
	if _, err := p.Open("/chat?name=gone", 0, true); err != nil {
		t.Fatalf("an expired ban holds: %v", err)
	}
	var br hub.BadRequest
	for _, b := range []hub.Ban{
		{Target: hub.Target{IP: "10.0.0.300"}, Until: time.Now().Add(time.Minute)},
		{Target: hub.Target{}, Until: time.Now().Add(time.Minute)},
		{Target: hub.Target{Name: "x"}, Until: time.Now().Add(time.Minute), Reason: strings.Repeat("r", 300)},
	} {
		if _, err := ctl.Ban(context.Background(), b); !errors.As(err, &br) {
			t.Errorf("Ban(%+v) = %v, want a BadRequest", b.Target, err)
		}
	}

	// By sub, whatever the token's name.
	pa, ha, _ := authChat(t, auth.Optional)
	ha.SetBan(hub.Ban{Target: hub.Target{User: "u-9"}, Until: time.Now().Add(time.Hour)})
	claims := jwt.MapClaims{"sub": "u-9", "name": "nine", "iss": "app"}
	if _, err := pa.Open("/chat?token="+token(t, claims), 0, true); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("banned sub: %v", err)
	}
}

// Delete removes one message from the history: JSON members get a
// deleted event, the history and a resume skip it, the next message keeps
// its own offset.
func TestDelete(t *testing.T) {
	p, h := newChatConfig(t, 2, hub.Config{Shards: 4, History: 10})
	js := openAs(t, p, "/chat?name=jay", 1, true)
	text := openAs(t, p, "/chat?name=tex", 0, false)
	for _, s := range []string{"one", "two", "three"} {
		send(p, text, s)
	}
	p.Received(text)
	p.Received(js)
	ctl := h.Control()
	if err := ctl.Delete(context.Background(), "lobby", 2); err != nil {
		t.Fatal(err)
	}
	p.Drain()
	got := p.Received(js)
	if len(got) != 1 || !strings.HasPrefix(got[0], `{"type":"deleted","room":"lobby","offset":2,"epoch":"`) {
		t.Fatalf("JSON member got %q", got)
	}
	if got := p.Received(text); len(got) != 0 {
		t.Fatalf("text member got %q", got)
	}
	if err := ctl.Delete(context.Background(), "lobby", 2); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("deleting again: %v", err)
	}
	page, err := ctl.History(context.Background(), hub.HistoryQuery{Room: "lobby"})
	if err != nil || len(page.Messages) != 2 || page.Messages[0].Text != "one" || page.Messages[1].Offset != 3 {
		t.Fatalf("history after delete: %+v %v", page, err)
	}
	page, err = ctl.History(context.Background(), hub.HistoryQuery{Room: "lobby", Resume: true, Since: 1, Epoch: page.Epoch})
	if err != nil || page.Reset || len(page.Messages) != 1 || page.Messages[0].Text != "three" {
		t.Fatalf("resume across the deleted message: %+v %v", page, err)
	}
	send(p, text, "four")
	if page, _ := ctl.History(context.Background(), hub.HistoryQuery{Room: "lobby", Limit: 1}); len(page.Messages) != 1 || page.Messages[0].Offset != 4 {
		t.Fatalf("the next message: %+v", page)
	}
}

// sink keeps the events it is given.
type sink struct {
	mu  sync.Mutex
	evs []map[string]any
}

func (s *sink) Event(kind, room string, obj []byte) {
	var m map[string]any
	if err := json.Unmarshal(obj, &m); err != nil || m["type"] != kind || (room != "" && m["room"] != room) {
		panic("bad event " + string(obj))
	}
	s.mu.Lock()
	s.evs = append(s.evs, m)
	s.mu.Unlock()
}

func (s *sink) take() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.evs
	s.evs = nil
	return e
}

// The node's events: connect (with the address), message and me (with
// offset and epoch), join and leave, nick, disconnect; whispers only when
// asked for.
func TestEvents(t *testing.T) {
	for _, whispers := range []bool{false, true} {
		s := &sink{}
		p, _ := newChatConfig(t, 2, hub.Config{Shards: 4, History: 10, Backend: hub.BackendConfig{NodeID: "n1", Events: s, EventWhispers: whispers}})
		a := openAs(t, p, "/chat?name=alice", 0, false)
		b := openAs(t, p, "/chat?name=bob", 1, true)
		send(p, a, "hi")
		send(p, a, "/me waves")
		send(p, a, "/w bob psst")
		send(p, a, "/join games")
		send(p, a, "/nick al")
		p.Disconnect(a)
		p.Drain()
		_ = b
		var kinds []string
		for _, ev := range s.take() {
			kinds = append(kinds, ev["type"].(string))
			if ev["node"] != "n1" || ev["ts"].(float64) == 0 {
				t.Fatalf("event %v", ev)
			}
			switch ev["type"] {
			case "connect":
				if ev["name"] == "alice" && (ev["room"] != "lobby" || !strings.HasPrefix(ev["ip"].(string), "127.0.")) {
					t.Fatalf("connect %v", ev)
				}
			case "message":
				if ev["from"] != "alice" || ev["text"] != "hi" || ev["room"] != "lobby" || ev["offset"].(float64) != 1 || ev["epoch"] == "" {
					t.Fatalf("message %v", ev)
				}
			case "whisper":
				if ev["from"] != "alice" || ev["to"] != "bob" || ev["text"] != "psst" {
					t.Fatalf("whisper %v", ev)
				}
			case "nick":
				if ev["old"] != "alice" || ev["name"] != "al" || ev["room"] != "games" {
					t.Fatalf("nick %v", ev)
				}
			case "disconnect":
				if ev["name"] != "al" || ev["room"] != "games" || ev["ip"] == nil {
					t.Fatalf("disconnect %v", ev)
				}
			}
		}
		want := []string{"connect", "connect", "message", "me", "leave", "join", "nick", "disconnect"}
		if whispers {
			want = slices.Insert(want, 4, "whisper")
		}
		if !slices.Equal(kinds, want) {
			t.Fatalf("whispers %v: events %q, want %q", whispers, kinds, want)
		}
	}
}

// Over sockets: Disconnect closes every connection of a name or a sub,
// with the code and reason, on whichever loop; Presence lists a room's
// members with when they connected; Rooms and Info count them.
func TestControlOverSockets(t *testing.T) {
	srv, h := startNodeConfig(t, engine.Config{}, hub.Config{Shards: 4, Backend: hub.BackendConfig{NodeID: "solo", Version: "v1"}})
	before := time.Now().Add(-time.Second).UnixMilli()
	var cls []*client
	for _, name := range []string{"ann", "ben", "cat"} {
		cl := dialChatTarget(t, srv, "/chat?name="+name)
		<-cl.in
		cls = append(cls, cl)
	}
	cls[2].send(t, "/join games")
	<-cls[2].in
	ctx := context.Background()
	ctl := h.Control()
	pr, err := ctl.Presence(ctx, "lobby")
	if err != nil || pr.Count != 2 || pr.Members[0].Name != "ann" || pr.Members[1].Name != "ben" || pr.Members[0].Node != "solo" ||
		pr.Members[0].Since < before || pr.Members[0].Since > time.Now().UnixMilli() {
		t.Fatalf("Presence = %+v, %v", pr, err)
	}
	rooms, _ := ctl.Rooms(ctx)
	if !slices.Equal(rooms, []hub.RoomCount{{Room: "games", Count: 1}, {Room: "lobby", Count: 2}}) {
		t.Fatalf("Rooms = %+v", rooms)
	}
	info, _ := ctl.Info(ctx)
	if len(info.Nodes) != 1 || info.Nodes[0].Node != "solo" || info.Nodes[0].Version != "v1" || info.Users != 3 || info.Rooms != 2 || info.Connections != 3 {
		t.Fatalf("Info = %+v", info)
	}
	n, err := ctl.Disconnect(ctx, hub.Target{Name: "BEN"}, 4321, "bye ben")
	if err != nil || n != 1 {
		t.Fatalf("Disconnect = %d, %v", n, err)
	}
	<-cls[1].done
	if !strings.Contains(cls[1].err.Error(), "4321") || !strings.Contains(cls[1].err.Error(), "bye ben") {
		t.Fatalf("ben's close: %v", cls[1].err)
	}
	if n, _ := ctl.Disconnect(ctx, hub.Target{Name: "nobody"}, 0, ""); n != 0 {
		t.Fatalf("Disconnect(nobody) = %d", n)
	}
	var br hub.BadRequest
	if _, err := ctl.Disconnect(ctx, hub.Target{Name: "ann"}, 2000, ""); !errors.As(err, &br) {
		t.Fatalf("code 2000: %v", err)
	}
	// A ban closes with 1008 "banned", and the next upgrade gets 403.
	if n, err := ctl.Ban(ctx, hub.Ban{Target: hub.Target{IP: "127.0.0.1"}, Until: time.Now().Add(time.Minute)}); err != nil || n != 2 {
		t.Fatalf("Ban ip = %d, %v", n, err)
	}
	<-cls[0].done
	if !strings.Contains(cls[0].err.Error(), "1008") || !strings.Contains(cls[0].err.Error(), "banned") {
		t.Fatalf("ann's close: %v", cls[0].err)
	}
	_, resp, err := websocket.DefaultDialer.Dial("ws://"+srv.Addr().String()+"/chat", nil)
	if err == nil || resp == nil || resp.StatusCode != 403 {
		t.Fatalf("a banned address connects: %v %v", resp, err)
	}
	resp.Body.Close()
	if h.Stats().BannedRefused.Load() != 1 {
		t.Fatalf("BannedRefused = %d", h.Stats().BannedRefused.Load())
	}
}

// With compression on, a notice is compressed once per format, whatever
// the number of members, and every member gets it (compressed or not, as
// it negotiated).
func TestNoticeCompressedOnce(t *testing.T) {
	p, h := newCompressedChat(t, 2)
	var members []*engine.Conn
	for i := range 40 {
		hdr := []string{deflateHeader}[:i%2]
		if i%4 >= 2 {
			hdr = append(hdr, jsonHeader)
		}
		c, err := p.Open("/chat", i%2, true, hdr...)
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, c)
	}
	p.Drain()
	zBefore := make([]int, len(members))
	for i, c := range members {
		p.Received(c)
		zBefore[i] = p.CompressedReceived(c)
	}
	before := h.Stats().Compressed.Load()
	text := chatText(600)
	if err := h.Control().Publish(context.Background(), []string{"lobby"}, text); err != nil {
		t.Fatal(err)
	}
	p.Drain()
	if n := h.Stats().Compressed.Load() - before; n != 2 {
		t.Fatalf("compressed %d times, want 2 (once per format)", n)
	}
	compressed := 0
	for i, c := range members {
		compressed += p.CompressedReceived(c) - zBefore[i]
		got := p.Received(c)
		if len(got) != 1 || !strings.Contains(got[0], text) {
			t.Fatalf("member %d got %.80q", i, got)
		}
	}
	if compressed != 20 {
		t.Fatalf("%d members got it compressed, want the 20 that negotiated it", compressed)
	}
}
