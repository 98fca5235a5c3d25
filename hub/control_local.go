package hub

import (
	"context"
)

// Control returns the server API of this node alone (a single node; a
// cluster's is hub/cluster's Control).
func (h *Hub) Control() Control { return local{h} }

// local is a single node's Control.
type local struct{ h *Hub }

// maxPublishRooms bounds the rooms of one broadcast call.
const maxPublishRooms = 1000

// CheckPublish validates a notice's rooms and text, returning the room
// names lower-cased.
func (h *Hub) CheckPublish(rooms []string, text string) ([]string, error) {
	if len(rooms) == 0 || len(rooms) > maxPublishRooms {
		return nil, BadRequest("give 1 to 1000 rooms")
	}
	out := make([]string, len(rooms))
	for i, r := range rooms {
		var err error
		if out[i], err = CheckRoom(r); err != nil {
			return nil, err
		}
	}
	return out, h.CheckText(text)
}

// CheckDisconnect validates a disconnect's target, code (0: the default)
// and reason.
func CheckDisconnect(t Target, code uint16, reason string) (Target, uint16, error) {
	t, err := t.Check(false)
	if err != nil {
		return t, 0, err
	}
	if code == 0 {
		code = DefaultDisconnectCode
	}
	return t, code, CheckClose(code, reason)
}

func (c local) Publish(_ context.Context, rooms []string, text string) error {
	rooms, err := c.h.CheckPublish(rooms, text)
	if err != nil {
		return err
	}
	c.h.Notice(rooms, text)
	return nil
}

func (c local) Disconnect(ctx context.Context, t Target, code uint16, reason string) (int, error) {
	t, code, err := CheckDisconnect(t, code, reason)
	if err != nil {
		return 0, err
	}
	return c.h.DisconnectLocal(ctx, t, code, reason)
}

func (c local) Mute(_ context.Context, m Mute) error {
	m, err := CheckMute(m)
	if err != nil {
		return err
	}
	c.h.SetMute(m)
	return nil
}

func (c local) Unmute(_ context.Context, t Target, room string) (bool, error) {
	t, room, err := CheckUnmute(t, room)
	if err != nil {
		return false, err
	}
	return c.h.RemoveMute(t, room), nil
}

func (c local) Ban(ctx context.Context, b Ban) (int, error) {
	b, err := CheckBan(b)
	if err != nil {
		return 0, err
	}
	c.h.SetBan(b)
	return c.h.DisconnectLocal(ctx, b.Target, BanCode, BanReason)
}

func (c local) Unban(_ context.Context, t Target) (bool, error) {
	t, err := t.Check(true)
	if err != nil {
		return false, err
	}
	return c.h.RemoveBan(t), nil
}

func (c local) Bans(context.Context) ([]Ban, []Mute, error) {
	bans, mutes := c.h.Moderation()
	return bans, mutes, nil
}

func (c local) Delete(_ context.Context, room string, offset uint64) error {
	room, err := CheckRoom(room)
	if err != nil {
		return err
	}
	spec, ok := c.h.FindMessage(room, offset)
	if !ok || !c.h.DeleteLocal(spec) {
		return ErrNotFound
	}
	return nil
}

func (c local) Presence(ctx context.Context, room string) (Presence, error) {
	room, err := CheckRoom(room)
	if err != nil {
		return Presence{}, err
	}
	ms, err := c.h.PresenceLocal(ctx, room)
	if ms == nil {
		ms = []PresenceMember{}
	}
	return Presence{Room: room, Count: len(ms), Members: ms}, err
}

func (c local) Rooms(context.Context) ([]RoomCount, error) {
	rs := c.h.RoomsLocal()
	if rs == nil {
		rs = []RoomCount{}
	}
	return rs, nil
}

func (c local) History(_ context.Context, q HistoryQuery) (HistoryPage, error) {
	var err error
	if q.Room, err = CheckRoom(q.Room); err != nil {
		return HistoryPage{}, err
	}
	return c.h.HistoryLocal(q)
}

func (c local) Info(context.Context) (Info, error) {
	n := c.h.InfoLocal()
	return Info{Nodes: []NodeInfo{n}, Connections: n.Connections, Users: n.Users, Rooms: n.Rooms}, nil
}
