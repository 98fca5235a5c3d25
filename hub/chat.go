package hub

import (
	"strconv"

	"edgews/codec"
	"edgews/engine"
)

// Lobby is the room every user starts in.
const Lobby = "lobby"

// chat is the /chat route: the chat of Ktor's WebSockets tutorial.
//
// Protocol flow (text frames):
//
//	server -> newcomer: "You are connected! There are N users here."  (N includes the newcomer)
//	userK -> server:    T
//	server -> all:      "[userK]: T"                                  (sender included)
type chat struct{ h *Hub }

func (ch *chat) OnOpen(c *engine.Conn) {
	h := ch.h
	n := h.users.Add(1)
	m := &Member{c: c, room: Lobby, idx: -1}
	// Names come from one counter, so they are unique across loops; the
	// registry still checks, for names chosen by users.
	for {
		m.name = "user" + strconv.FormatUint(h.nextName.Add(1)-1, 10)
		if h.register(m) {
			break
		}
	}
	c.SetValue(m)
	roomsOf(c.Loop()).join(m)
	var buf [64]byte
	greeting := strconv.AppendInt(append(buf[:0], "You are connected! There are "...), n, 10)
	_ = c.Send(codec.OpText, append(greeting, " users here."...))
}

func (ch *chat) OnMessage(c *engine.Conn, op codec.OpCode, p []byte) {
	if op != codec.OpText {
		return
	}
	m := c.Value().(*Member)
	f := beginFrame().appendString("[").appendString(m.name).appendString("]: ").appendBytes(p).finish(codec.OpText)
	ch.h.broadcast(m.room, f, nil)
}

func (ch *chat) OnClose(c *engine.Conn, _ codec.StatusCode, _ string) {
	m, _ := c.Value().(*Member)
	if m == nil {
		return
	}
	roomsOf(c.Loop()).leave(m)
	ch.h.unregister(m)
	ch.h.users.Add(-1)
}
