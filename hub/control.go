package hub

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Control is what the application's backend may do to the chat: the
// methods of the server API (hub/api serves them over HTTP). On a single
// node, Hub.Control acts on the node; in a cluster, hub/cluster's Control
// does the same on every node.
//
// Every method is safe from any goroutine and may wait (up to ctx): the
// work on connections is posted to their event loops, and a method
// answers once the loops have acted. Argument errors are BadRequest;
// ErrNotFound and ErrUnavailable are the others a caller should expect.
type Control interface {
	// Publish says text as the server in each of rooms: a notice, "***
	// TEXT" to text clients and {"type":"notice",...} to JSON clients,
	// kept in the rooms' history like a message when history is on.
	Publish(ctx context.Context, rooms []string, text string) error
	// Disconnect closes every connection of t (a name or a user) with
	// code and reason, and reports how many it closed.
	Disconnect(ctx context.Context, t Target, code uint16, reason string) (int, error)
	// Mute keeps the messages of m.Target (a name or a user) from
	// reaching anybody, in m.Room or (empty) in every room, until m.Until.
	// Unmute lifts it, reporting whether there was one.
	Mute(ctx context.Context, m Mute) error
	Unmute(ctx context.Context, t Target, room string) (bool, error)
	// Ban disconnects b.Target (a name, a user or an IP address) and
	// refuses its connections (403 at the upgrade, and /nick to a banned
	// name) until b.Until; it reports how many connections it closed.
	// Unban lifts it, reporting whether there was one; Bans lists the
	// bans and the mutes in force.
	Ban(ctx context.Context, b Ban) (int, error)
	Unban(ctx context.Context, t Target) (bool, error)
	Bans(ctx context.Context) ([]Ban, []Mute, error)
	// Delete removes the message at offset from room's history and tells
	// the room's JSON clients ({"type":"deleted",...}). ErrNotFound if
	// the history has no such message.
	Delete(ctx context.Context, room string, offset uint64) error
	// Presence lists room's members; Rooms every room with members;
	// History a room's history as a resuming client gets it; Info the
	// nodes.
	Presence(ctx context.Context, room string) (Presence, error)
	Rooms(ctx context.Context) ([]RoomCount, error)
	History(ctx context.Context, q HistoryQuery) (HistoryPage, error)
	Info(ctx context.Context) (Info, error)
}

// Errors of Control's methods besides BadRequest.
var (
	// ErrNotFound: the message to delete is not in the history.
	ErrNotFound = errors.New("hub: not found")
	// ErrUnavailable: a cluster-wide call while the cluster is not
	// connected (or its registry is not set up).
	ErrUnavailable = errors.New("hub: cluster unavailable")
)

// Unanswered is the error of a cluster-wide call that these nodes did not
// answer in time: they may or may not have acted.
type Unanswered []string

func (u Unanswered) Error() string {
	return "hub: no answer in time from node(s) " + strings.Join(u, ", ")
}

// BadRequest is an argument of a Control call that is not valid; its text
// says which and why.
type BadRequest string

func (e BadRequest) Error() string { return string(e) }

// Target is who a moderation call is about: exactly one of its fields.
type Target struct {
	Name string `json:"name,omitempty"` // a user name (in any case)
	User string `json:"user,omitempty"` // a connect token's sub
	IP   string `json:"ip,omitempty"`   // a client IP address (Ban only)
}

// Target kinds, the first byte of a key (see Target.key).
const (
	kindName = 'n'
	kindUser = 'u'
	kindIP   = 'i'
)

// maxUserLen bounds a sub in a Target: tokens carry short ids.
const maxUserLen = 256

// Check validates t, with ip saying whether an IP address is allowed, and
// returns it normalised: a name lower-cased, an address in its canonical
// form (an IPv4-mapped IPv6 address as IPv4).
func (t Target) Check(ip bool) (Target, error) {
	n := 0
	for _, s := range [...]string{t.Name, t.User, t.IP} {
		if s != "" {
			n++
		}
	}
	want := `"name" or "user"`
	if ip {
		want = `"name", "user" or "ip"`
	}
	switch {
	case n != 1 || (t.IP != "" && !ip):
		return t, BadRequest("give exactly one of " + want)
	case t.Name != "" && !validName(t.Name):
		return t, BadRequest(invalidName("name", t.Name))
	case t.User != "" && (len(t.User) > maxUserLen || !utf8.ValidString(t.User)):
		return t, BadRequest(`"user" must be a token's sub: valid UTF-8, at most 256 bytes`)
	}
	if t.IP != "" {
		a, err := netip.ParseAddr(t.IP)
		if err != nil || a.Zone() != "" {
			return t, BadRequest("invalid ip " + quoteShort(t.IP))
		}
		t.IP = a.Unmap().String()
	}
	t.Name = foldName(t.Name)
	return t, nil
}

// kind is t's kind and value.
func (t Target) kind() (byte, string) {
	switch {
	case t.Name != "":
		return kindName, t.Name
	case t.User != "":
		return kindUser, t.User
	}
	return kindIP, t.IP
}

// String names t for logs and errors: "name alice", "user u-42", "ip 10.0.0.1".
func (t Target) String() string {
	switch k, v := t.kind(); k {
	case kindName:
		return "name " + v
	case kindUser:
		return "user " + v
	default:
		return "ip " + v
	}
}

// Ban is a ban in force: Target's connections are refused until Until.
type Ban struct {
	Target
	Until  time.Time `json:"until"`
	Reason string    `json:"reason,omitempty"`
}

// Mute is a mute in force: Target's messages reach nobody in Room (empty:
// in every room) until Until.
type Mute struct {
	Target
	Room  string    `json:"room,omitempty"`
	Until time.Time `json:"until"`
}

// Presence is a room's members (Count of them: the list may be cut by
// the caller's limits, never by the hub).
type Presence struct {
	Room    string           `json:"room"`
	Count   int              `json:"count"`
	Members []PresenceMember `json:"members"`
}

// PresenceMember is one connection in a room.
type PresenceMember struct {
	Name  string `json:"name"`
	User  string `json:"user,omitempty"` // the token's sub; empty: anonymous
	Node  string `json:"node"`
	Since int64  `json:"since"` // connected since, milliseconds since the Unix epoch (to the second)
}

// RoomCount is a room and how many members it has.
type RoomCount struct {
	Room  string `json:"room"`
	Count int    `json:"count"`
}

// HistoryQuery asks for a room's history: with Resume, the messages after
// offset Since of Epoch, as a resuming client gets them; else the newest.
// At most Limit (0: the node's Config.History).
type HistoryQuery struct {
	Room   string
	Since  uint64
	Epoch  string
	Resume bool
	Limit  int
}

// HistoryPage is a history read: Reset says that the resume asked for
// could not be honoured (the newest messages follow instead).
type HistoryPage struct {
	Room     string          `json:"room"`
	Epoch    string          `json:"epoch,omitempty"`
	Reset    bool            `json:"reset,omitempty"`
	Messages []StoredMessage `json:"messages"`
}

// StoredMessage is one message of a history: a chat line ("message"), a
// /me action ("me") or a notice ("notice", from the server: no From).
type StoredMessage struct {
	Type   string `json:"type"`
	From   string `json:"from,omitempty"`
	Text   string `json:"text"`
	TS     int64  `json:"ts"`
	Offset uint64 `json:"offset"`
	Epoch  string `json:"epoch"`
}

// Info describes the nodes: one entry each, and the cluster's totals
// (Rooms counts distinct rooms).
type Info struct {
	Nodes       []NodeInfo `json:"nodes"`
	Connections int64      `json:"connections"`
	Users       int64      `json:"users"`
	Rooms       int        `json:"rooms"`
	// Unanswered lists the nodes that did not answer in time (cluster).
	Unanswered []string `json:"unanswered,omitempty"`
}

// NodeInfo is one node's figures.
type NodeInfo struct {
	Node        string  `json:"node"`
	Version     string  `json:"version,omitempty"`
	Uptime      float64 `json:"uptime"` // seconds
	Connections int64   `json:"connections"`
	Users       int64   `json:"users"`
	Rooms       int     `json:"rooms"`
}

// CheckRoom validates a room name argument and returns it lower-cased.
func CheckRoom(room string) (string, error) {
	if !validName(room) {
		return "", BadRequest(invalidName("room name", room))
	}
	return foldName(room), nil
}

// CheckText validates the text of a notice: not empty, valid UTF-8, at
// most Config.MaxLine bytes.
func (h *Hub) CheckText(text string) error {
	switch {
	case text == "":
		return BadRequest(`"text" is empty`)
	case len(text) > h.cfg.MaxLine:
		return BadRequest("text too long (limit " + strconv.Itoa(h.cfg.MaxLine) + " bytes)")
	case !utf8.ValidString(text):
		return BadRequest(`"text" is not valid UTF-8`)
	}
	return nil
}

// CheckClose validates a close code and reason for Disconnect: 1000,
// 1001, 1008 or 3000-4999, and a reason that fits a close frame.
func CheckClose(code uint16, reason string) error {
	switch {
	case code != 1000 && code != 1001 && code != 1008 && (code < 3000 || code > 4999):
		return BadRequest(`"code" must be 1000, 1001, 1008 or 3000-4999`)
	case len(reason) > 123 || !utf8.ValidString(reason):
		return BadRequest(`"reason" must be valid UTF-8 of at most 123 bytes`)
	}
	return nil
}
