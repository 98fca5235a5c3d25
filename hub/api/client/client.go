// Package client calls a chat node's server API (wsnode --api-addr; see
// hub/api for the protocol) from Go. It depends on the standard library
// only.
//
//	c := client.New("http://10.0.0.11:9000", os.Getenv("WSNODE_API_KEY"))
//	err := c.Publish(ctx, "lobby", "maintenance at 22:00")
//	n, err := c.Ban(ctx, client.Name("troll"), time.Hour, "spam")
//	p, err := c.Presence(ctx, "lobby")
//
// A Client is safe for concurrent use.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Client calls one API address (a node, or a balancer in front of the
// nodes' API listeners).
type Client struct {
	base string
	key  string
	// HTTP is the client the calls go through; New sets one with a 10 s
	// timeout.
	HTTP *http.Client
}

// New returns a client of the API at base ("http://host:port") with key.
func New(base, key string) *Client {
	return &Client{base: strings.TrimRight(base, "/"), key: key, HTTP: &http.Client{Timeout: 10 * time.Second}}
}

// Error is an error answer of the API.
type Error struct {
	Status  int    // the HTTP status
	Code    string // "bad_request", "unauthorized", "not_found", ...
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("api: %d %s: %s", e.Status, e.Code, e.Message)
}

// Call calls method with args (marshalled to JSON; nil for none) and
// decodes the result into result (nil to drop it). An error answer is an
// *Error.
func (c *Client) Call(ctx context.Context, method string, args, result any) error {
	body := []byte("{}")
	if args != nil {
		var err error
		if body, err = json.Marshal(args); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/api/"+method, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", c.key)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	var out struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return &Error{Status: resp.StatusCode, Code: "bad_answer", Message: strings.TrimSpace(string(b))}
	}
	if out.Error != nil || resp.StatusCode != http.StatusOK {
		e := &Error{Status: resp.StatusCode}
		if out.Error != nil {
			e.Code, e.Message = out.Error.Code, out.Error.Message
		}
		return e
	}
	if result == nil {
		return nil
	}
	return json.Unmarshal(out.Result, result)
}

// Target is who a moderation call is about: Name, User or IP.
type Target struct {
	Name string `json:"name,omitempty"`
	User string `json:"user,omitempty"` // a connect token's sub
	IP   string `json:"ip,omitempty"`   // bans only
}

// Name, User and IP make a Target.
func Name(name string) Target { return Target{Name: name} }
func User(sub string) Target  { return Target{User: sub} }
func IP(addr string) Target   { return Target{IP: addr} }

// Publish says text as the server in room: "*** TEXT" to text clients, a
// notice event to JSON clients.
func (c *Client) Publish(ctx context.Context, room, text string) error {
	return c.Call(ctx, "publish", map[string]string{"room": room, "text": text}, nil)
}

// Broadcast publishes text in several rooms at once.
func (c *Client) Broadcast(ctx context.Context, rooms []string, text string) error {
	return c.Call(ctx, "broadcast", map[string]any{"rooms": rooms, "text": text}, nil)
}

// Disconnect closes every connection of t (Name or User) with code (0:
// 4000) and reason, and returns how many it closed.
func (c *Client) Disconnect(ctx context.Context, t Target, code uint16, reason string) (int, error) {
	var r struct {
		N int `json:"disconnected"`
	}
	err := c.Call(ctx, "disconnect", struct {
		Target
		Code   uint16 `json:"code,omitempty"`
		Reason string `json:"reason,omitempty"`
	}{t, code, reason}, &r)
	return r.N, err
}

// Mute keeps t's messages (Name or User) from reaching anybody, in room
// (empty: every room), for ttl.
func (c *Client) Mute(ctx context.Context, t Target, room string, ttl time.Duration) error {
	return c.Call(ctx, "mute", struct {
		Target
		Room string `json:"room,omitempty"`
		TTL  string `json:"ttl"`
	}{t, room, ttl.String()}, nil)
}

// Unmute lifts a mute; false if there was none.
func (c *Client) Unmute(ctx context.Context, t Target, room string) (bool, error) {
	var r struct {
		Removed bool `json:"removed"`
	}
	err := c.Call(ctx, "unmute", struct {
		Target
		Room string `json:"room,omitempty"`
	}{t, room}, &r)
	return r.Removed, err
}

// Ban disconnects t (Name, User or IP) and refuses its connections for
// ttl; it returns how many connections it closed.
func (c *Client) Ban(ctx context.Context, t Target, ttl time.Duration, reason string) (int, error) {
	var r struct {
		N int `json:"disconnected"`
	}
	err := c.Call(ctx, "ban", struct {
		Target
		TTL    string `json:"ttl"`
		Reason string `json:"reason,omitempty"`
	}{t, ttl.String(), reason}, &r)
	return r.N, err
}

// Unban lifts a ban; false if there was none.
func (c *Client) Unban(ctx context.Context, t Target) (bool, error) {
	var r struct {
		Removed bool `json:"removed"`
	}
	err := c.Call(ctx, "unban", t, &r)
	return r.Removed, err
}

// Ban and Mute are the bans and mutes in force.
type (
	Ban struct {
		Target
		Until  time.Time `json:"until"`
		Reason string    `json:"reason,omitempty"`
	}
	Mute struct {
		Target
		Room  string    `json:"room,omitempty"`
		Until time.Time `json:"until"`
	}
)

// Bans lists the bans and mutes in force.
func (c *Client) Bans(ctx context.Context) ([]Ban, []Mute, error) {
	var r struct {
		Bans  []Ban  `json:"bans"`
		Mutes []Mute `json:"mutes"`
	}
	err := c.Call(ctx, "bans", nil, &r)
	return r.Bans, r.Mutes, err
}

// Delete removes the message at offset from room's history; an *Error
// with Code "not_found" if there is none.
func (c *Client) Delete(ctx context.Context, room string, offset uint64) error {
	return c.Call(ctx, "delete", map[string]any{"room": room, "offset": offset}, nil)
}

// Presence is a room's members.
type Presence struct {
	Room    string `json:"room"`
	Count   int    `json:"count"`
	Members []struct {
		Name  string `json:"name"`
		User  string `json:"user"`
		Node  string `json:"node"`
		Since int64  `json:"since"` // milliseconds since the Unix epoch
	} `json:"members"`
}

// Presence lists room's members on every node.
func (c *Client) Presence(ctx context.Context, room string) (Presence, error) {
	var p Presence
	err := c.Call(ctx, "presence", map[string]string{"room": room}, &p)
	return p, err
}

// Room is a room and its member count.
type Room struct {
	Room  string `json:"room"`
	Count int    `json:"count"`
}

// Rooms lists every room with members.
func (c *Client) Rooms(ctx context.Context) ([]Room, error) {
	var r struct {
		Rooms []Room `json:"rooms"`
	}
	err := c.Call(ctx, "rooms", nil, &r)
	return r.Rooms, err
}

// History is a room's history; Reset says the resume asked for could not
// be honoured.
type History struct {
	Room     string `json:"room"`
	Epoch    string `json:"epoch"`
	Reset    bool   `json:"reset"`
	Messages []struct {
		Type   string `json:"type"` // message, me, notice
		From   string `json:"from"`
		Text   string `json:"text"`
		TS     int64  `json:"ts"`
		Offset uint64 `json:"offset"`
		Epoch  string `json:"epoch"`
	} `json:"messages"`
}

// History reads room's newest messages (limit 0: the node's --history).
func (c *Client) History(ctx context.Context, room string, limit int) (History, error) {
	var h History
	err := c.Call(ctx, "history", map[string]any{"room": room, "limit": limit}, &h)
	return h, err
}

// HistorySince reads room's messages after offset since of epoch, as a
// resuming client gets them.
func (c *Client) HistorySince(ctx context.Context, room string, since uint64, epoch string) (History, error) {
	var h History
	err := c.Call(ctx, "history", map[string]any{"room": room, "since": since, "epoch": epoch}, &h)
	return h, err
}

// Info describes the nodes.
type Info struct {
	Nodes []struct {
		Node        string  `json:"node"`
		Version     string  `json:"version"`
		Uptime      float64 `json:"uptime"` // seconds
		Connections int64   `json:"connections"`
		Users       int64   `json:"users"`
		Rooms       int     `json:"rooms"`
	} `json:"nodes"`
	Connections int64    `json:"connections"`
	Users       int64    `json:"users"`
	Rooms       int      `json:"rooms"`
	Unanswered  []string `json:"unanswered"`
}

// Info describes the nodes.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var i Info
	err := c.Call(ctx, "info", nil, &i)
	return i, err
}
