package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"edgews/hub"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The server API across the cluster (hub.Control): a call on any node
// acts on every node.
//
//	NAME.api   every node subscribes; a call's node publishes one request
//	           {"op":"ban","args":{...}} with a reply inbox and gathers one
//	           reply {"node":"n2","result":...} per other live node (the
//	           liveness bucket's keys), for at most Config.OpTimeout
//
// Each node runs the request on its own hub, as the single node's
// Control does (posted to its loops, answered once they acted), on one of
// a few worker goroutines. NoEcho keeps a node's own request from coming
// back: it acts locally first. A call while the node is not Healthy is
// refused (hub.ErrUnavailable: 503), so that a backend retries it on a
// node that can reach the others; nodes that do not answer in time are
// named in a hub.Unanswered error (504), or in Info's Unanswered.
//
// Bans and mutes also live in JetStream key-value, one key each, with
// their TTL (KeyTTL; the buckets keep a marker when a key expires):
//
//	NAME_bans   key: name.NAME | user.B64(sub) | ip.B64(addr)      value: a hub.Ban as JSON
//	NAME_mutes  key: the ban's key + "." + ROOM (or "=": every room) value: a hub.Mute as JSON
//
// Every node watches both buckets and keeps its hub's copy in line
// (hub.Hub.ReplaceModeration, SetBan, RemoveBan, ...), so a node that
// starts (or restarts) enforces what was set before, and a node that was
// cut off catches up; the request above makes a call take effect on every
// node before it answers, without waiting for the watches.

// apiWorkers is how many requests of other nodes a node runs at once.
const apiWorkers = 4

// modMarkerTTL is how long the moderation buckets keep the marker of an
// expired key (LimitMarkerTTL): long enough for every watcher to see it.
const modMarkerTTL = time.Minute

type apiRequest struct {
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args"`
}

type apiReply struct {
	Node   string          `json:"node"`
	Result json.RawMessage `json:"result,omitempty"`
	Err    string          `json:"err,omitempty"`
}

// control is the node's part of the cluster's server API.
type control struct {
	n    *Node
	h    *hub.Hub
	subj string                     // NAME.api
	reqs chan *nats.Msg             // other nodes' requests, for the workers
	mod  atomic.Pointer[modBuckets] // nil until the moderation buckets are set up
}

// Control returns the cluster's server API, acting on every node; nil
// until hub.New has attached the node to its hub.
func (n *Node) Control() hub.Control {
	if n.api == nil {
		return nil
	}
	return n.api
}

// attachControl starts the node's part of the server API, once hub.New
// attached the node to h: the request workers and the moderation watch.
func (n *Node) attachControl(r hub.Receiver) {
	h, ok := r.(*hub.Hub)
	if !ok {
		return
	}
	c := &control{n: n, h: h, subj: n.cfg.Name + ".api", reqs: make(chan *nats.Msg, 256)}
	n.api = c
	if _, err := n.nc.ChanSubscribe(c.subj, c.reqs); err != nil {
		n.log.Error("cluster: subscribe", "subject", c.subj, "err", err)
	}
	for range apiWorkers {
		n.goRun(c.work)
	}
	n.goRun(c.watchModeration)
}

// work runs other nodes' requests until the node closes.
func (c *control) work() {
	for {
		select {
		case m := <-c.reqs:
			c.serve(m)
		case <-c.n.stop:
			return
		}
	}
}

// serve runs one request on this node and replies.
func (c *control) serve(m *nats.Msg) {
	var req apiRequest
	if err := json.Unmarshal(m.Data, &req); err != nil || m.Reply == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.n.cfg.OpTimeout)
	defer cancel()
	res, err := c.local(ctx, req.Op, req.Args)
	rep := apiReply{Node: c.n.cfg.NodeID}
	if err == nil {
		rep.Result, err = json.Marshal(res)
	}
	if err != nil {
		rep.Err = err.Error()
	}
	b, _ := json.Marshal(rep)
	_ = c.n.nc.Publish(m.Reply, b)
}

// The arguments of the requests that are not one of hub's types.
type (
	disconnectArgs struct {
		Target hub.Target `json:"target"`
		Code   uint16     `json:"code"`
		Reason string     `json:"reason"`
	}
	unmuteArgs struct {
		Target hub.Target `json:"target"`
		Room   string     `json:"room"`
	}
	nodeInfo struct {
		Info  hub.NodeInfo `json:"info"`
		Rooms []string     `json:"rooms"`
	}
)

// local runs a request's op on this node.
func (c *control) local(ctx context.Context, op string, args json.RawMessage) (any, error) {
	h := c.h
	dec := func(v any) error { return json.Unmarshal(args, v) }
	switch op {
	case "disconnect":
		var a disconnectArgs
		if err := dec(&a); err != nil {
			return nil, err
		}
		return h.DisconnectLocal(ctx, a.Target, a.Code, a.Reason)
	case "mute":
		var m hub.Mute
		if err := dec(&m); err != nil {
			return nil, err
		}
		h.SetMute(m)
		return true, nil
	case "unmute":
		var a unmuteArgs
		if err := dec(&a); err != nil {
			return nil, err
		}
		return h.RemoveMute(a.Target, a.Room), nil
	case "ban":
		var b hub.Ban
		if err := dec(&b); err != nil {
			return nil, err
		}
		h.SetBan(b)
		return h.DisconnectLocal(ctx, b.Target, hub.BanCode, hub.BanReason)
	case "unban":
		var t hub.Target
		if err := dec(&t); err != nil {
			return nil, err
		}
		return h.RemoveBan(t), nil
	case "delete":
		var spec hub.DeleteSpec
		if err := dec(&spec); err != nil {
			return nil, err
		}
		return h.DeleteLocal(spec), nil
	case "presence":
		var room string
		if err := dec(&room); err != nil {
			return nil, err
		}
		return h.PresenceLocal(ctx, room)
	case "rooms":
		return h.RoomsLocal(), nil
	case "history":
		var q hub.HistoryQuery
		if err := dec(&q); err != nil {
			return nil, err
		}
		return h.HistoryLocal(q)
	case "info":
		info := nodeInfo{Info: h.InfoLocal()}
		for _, r := range h.RoomsLocal() {
			info.Rooms = append(info.Rooms, r.Room)
		}
		return info, nil
	}
	return nil, fmt.Errorf("cluster: unknown api op %q", op)
}

// gather asks every other live node to run op with args and returns
// their results, and the nodes that did not answer within the op
// timeout (or ctx). hub.ErrUnavailable if this node is cut off.
func (c *control) gather(ctx context.Context, op string, args any) ([]json.RawMessage, hub.Unanswered, error) {
	n := c.n
	b := n.kv.Load()
	if !n.Healthy() || b == nil {
		return nil, nil, hub.ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.OpTimeout)
	defer cancel()
	keys, err := b.nodes.Keys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil, fmt.Errorf("%w: %w", hub.ErrUnavailable, err)
	}
	waiting := make(map[string]bool)
	for _, k := range keys {
		if k != n.cfg.NodeID {
			waiting[k] = true
		}
	}
	if len(waiting) == 0 {
		return nil, nil, nil
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return nil, nil, err
	}
	body, _ := json.Marshal(apiRequest{Op: op, Args: raw})
	inbox := nats.NewInbox()
	replies := make(chan *nats.Msg, len(waiting)+16)
	sub, err := n.nc.ChanSubscribe(inbox, replies)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", hub.ErrUnavailable, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := n.nc.PublishMsg(&nats.Msg{Subject: c.subj, Reply: inbox, Data: body}); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", hub.ErrUnavailable, err)
	}
	var out []json.RawMessage
	seen := make(map[string]bool)
	for len(waiting) > 0 {
		select {
		case m := <-replies:
			var rep apiReply
			if json.Unmarshal(m.Data, &rep) != nil || seen[rep.Node] {
				continue
			}
			// A node whose liveness key lapsed (a refresh late under
			// load) still answers: its reply counts, it is not waited for.
			seen[rep.Node] = true
			delete(waiting, rep.Node)
			if rep.Err != "" {
				return nil, nil, fmt.Errorf("cluster: node %s: %s", rep.Node, rep.Err)
			}
			out = append(out, rep.Result)
		case <-ctx.Done():
			var un hub.Unanswered
			for k := range waiting {
				un = append(un, k)
			}
			slices.Sort(un)
			return out, un, nil
		}
	}
	return out, nil, nil
}

// gatherInto is gather, decoding each result into a T; unanswered nodes
// are an error.
func gatherInto[T any](ctx context.Context, c *control, op string, args any) ([]T, error) {
	raws, un, err := c.gather(ctx, op, args)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(raws))
	for _, r := range raws {
		var v T
		if err := json.Unmarshal(r, &v); err != nil {
			return nil, fmt.Errorf("cluster: api reply: %w", err)
		}
		out = append(out, v)
	}
	if un != nil {
		return out, un
	}
	return out, nil
}

// sum adds up the nodes' counts.
func sum(local int, remote []int) int {
	for _, k := range remote {
		local += k
	}
	return local
}

// ready refuses a call while the node is cut off from the cluster.
func (c *control) ready() error {
	if !c.n.Healthy() {
		return hub.ErrUnavailable
	}
	return nil
}

// Publish implements hub.Control: the notice travels like a message, to
// the room's members on every node.
func (c *control) Publish(_ context.Context, rooms []string, text string) error {
	rooms, err := c.h.CheckPublish(rooms, text)
	if err != nil {
		return err
	}
	if err := c.ready(); err != nil {
		return err
	}
	c.h.Notice(rooms, text)
	return nil
}

// Disconnect implements hub.Control.
func (c *control) Disconnect(ctx context.Context, t hub.Target, code uint16, reason string) (int, error) {
	t, code, err := hub.CheckDisconnect(t, code, reason)
	if err != nil {
		return 0, err
	}
	if err := c.ready(); err != nil {
		return 0, err
	}
	n, err := c.h.DisconnectLocal(ctx, t, code, reason)
	if err != nil {
		return n, err
	}
	remote, err := gatherInto[int](ctx, c, "disconnect", disconnectArgs{Target: t, Code: code, Reason: reason})
	return sum(n, remote), err
}

// Mute implements hub.Control.
func (c *control) Mute(ctx context.Context, m hub.Mute) error {
	m, err := hub.CheckMute(m)
	if err != nil {
		return err
	}
	if err := c.ready(); err != nil {
		return err
	}
	if err := c.putMod(ctx, false, muteKey(m.Target, m.Room), m, time.Until(m.Until)); err != nil {
		return err
	}
	c.h.SetMute(m)
	_, err = gatherInto[bool](ctx, c, "mute", m)
	return err
}

// Unmute implements hub.Control.
func (c *control) Unmute(ctx context.Context, t hub.Target, room string) (bool, error) {
	t, room, err := hub.CheckUnmute(t, room)
	if err != nil {
		return false, err
	}
	if err := c.ready(); err != nil {
		return false, err
	}
	had, err := c.delMod(ctx, false, muteKey(t, room))
	if err != nil {
		return false, err
	}
	removed := c.h.RemoveMute(t, room)
	remote, err := gatherInto[bool](ctx, c, "unmute", unmuteArgs{Target: t, Room: room})
	return had || removed || slices.Contains(remote, true), err
}

// Ban implements hub.Control.
func (c *control) Ban(ctx context.Context, b hub.Ban) (int, error) {
	b, err := hub.CheckBan(b)
	if err != nil {
		return 0, err
	}
	if err := c.ready(); err != nil {
		return 0, err
	}
	if err := c.putMod(ctx, true, banKey(b.Target), b, time.Until(b.Until)); err != nil {
		return 0, err
	}
	c.h.SetBan(b)
	n, err := c.h.DisconnectLocal(ctx, b.Target, hub.BanCode, hub.BanReason)
	if err != nil {
		return n, err
	}
	remote, err := gatherInto[int](ctx, c, "ban", b)
	return sum(n, remote), err
}

// Unban implements hub.Control.
func (c *control) Unban(ctx context.Context, t hub.Target) (bool, error) {
	t, err := t.Check(true)
	if err != nil {
		return false, err
	}
	if err := c.ready(); err != nil {
		return false, err
	}
	had, err := c.delMod(ctx, true, banKey(t))
	if err != nil {
		return false, err
	}
	removed := c.h.RemoveBan(t)
	remote, err := gatherInto[bool](ctx, c, "unban", t)
	return had || removed || slices.Contains(remote, true), err
}

// Bans implements hub.Control: this node's copy of the buckets.
func (c *control) Bans(context.Context) ([]hub.Ban, []hub.Mute, error) {
	bans, mutes := c.h.Moderation()
	return bans, mutes, nil
}

// Delete implements hub.Control. With the cluster's shared history the
// message goes from the stream (History.Delete), and every node's mirror
// follows the stream; else each node deletes its own copy of the message
// (found by its sender, time and text: the nodes number their histories
// their own way).
func (c *control) Delete(ctx context.Context, room string, offset uint64) error {
	room, err := hub.CheckRoom(room)
	if err != nil {
		return err
	}
	if err := c.ready(); err != nil {
		return err
	}
	if hs, ok := c.h.Sequencer().(*History); ok {
		return hs.Delete(ctx, room, offset)
	}
	spec, ok := c.h.FindMessage(room, offset)
	if !ok {
		return hub.ErrNotFound
	}
	c.h.DeleteLocal(spec)
	_, err = gatherInto[bool](ctx, c, "delete", spec)
	return err
}

// Presence implements hub.Control: every node's members of the room.
func (c *control) Presence(ctx context.Context, room string) (hub.Presence, error) {
	room, err := hub.CheckRoom(room)
	if err != nil {
		return hub.Presence{}, err
	}
	if err := c.ready(); err != nil {
		return hub.Presence{}, err
	}
	ms, err := c.h.PresenceLocal(ctx, room)
	if err != nil {
		return hub.Presence{}, err
	}
	remote, err := gatherInto[[]hub.PresenceMember](ctx, c, "presence", room)
	for _, r := range remote {
		ms = append(ms, r...)
	}
	hub.SortPresence(ms)
	if ms == nil {
		ms = []hub.PresenceMember{}
	}
	return hub.Presence{Room: room, Count: len(ms), Members: ms}, err
}

// Rooms implements hub.Control: the rooms of every node, counts summed.
func (c *control) Rooms(ctx context.Context) ([]hub.RoomCount, error) {
	if err := c.ready(); err != nil {
		return nil, err
	}
	counts := make(map[string]int)
	for _, r := range c.h.RoomsLocal() {
		counts[r.Room] += r.Count
	}
	remote, err := gatherInto[[]hub.RoomCount](ctx, c, "rooms", nil)
	for _, rs := range remote {
		for _, r := range rs {
			counts[r.Room] += r.Count
		}
	}
	out := make([]hub.RoomCount, 0, len(counts))
	for room, k := range counts {
		out = append(out, hub.RoomCount{Room: room, Count: k})
	}
	slices.SortFunc(out, func(a, b hub.RoomCount) int { return strings.Compare(a.Room, b.Room) })
	return out, err
}

// History implements hub.Control. The shared history is the same on
// every node: this node's mirror answers. Without it, this node's
// history, or if it has none of the room's messages, the first other
// node's that has some.
func (c *control) History(ctx context.Context, q hub.HistoryQuery) (hub.HistoryPage, error) {
	var err error
	if q.Room, err = hub.CheckRoom(q.Room); err != nil {
		return hub.HistoryPage{}, err
	}
	page, err := c.h.HistoryLocal(q)
	if err != nil || len(page.Messages) > 0 || c.h.Sequencer() != nil {
		return page, err
	}
	if err := c.ready(); err != nil {
		return page, err
	}
	remote, err := gatherInto[hub.HistoryPage](ctx, c, "history", q)
	for _, p := range remote {
		if len(p.Messages) > 0 {
			return p, nil
		}
	}
	return page, err
}

// Info implements hub.Control: every node, and the nodes that did not
// answer.
func (c *control) Info(ctx context.Context) (hub.Info, error) {
	if err := c.ready(); err != nil {
		return hub.Info{}, err
	}
	info := hub.Info{Nodes: []hub.NodeInfo{c.h.InfoLocal()}}
	rooms := make(map[string]bool)
	for _, r := range c.h.RoomsLocal() {
		rooms[r.Room] = true
	}
	raws, un, err := c.gather(ctx, "info", nil)
	if err != nil {
		return hub.Info{}, err
	}
	for _, r := range raws {
		var ni nodeInfo
		if json.Unmarshal(r, &ni) != nil {
			continue
		}
		info.Nodes = append(info.Nodes, ni.Info)
		for _, room := range ni.Rooms {
			rooms[room] = true
		}
	}
	slices.SortFunc(info.Nodes, func(a, b hub.NodeInfo) int { return strings.Compare(a.Node, b.Node) })
	for _, ni := range info.Nodes {
		info.Connections += ni.Connections
		info.Users += ni.Users
	}
	info.Rooms = len(rooms)
	info.Unanswered = un
	return info, nil
}
