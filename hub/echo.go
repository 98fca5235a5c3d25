package hub

import (
	"edgews/codec"
	"edgews/engine"
)

// Echo is the /echo route: every text or binary message is sent back with
// the same opcode.
type Echo struct{}

func (Echo) OnOpen(*engine.Conn) {}

func (Echo) OnMessage(c *engine.Conn, op codec.OpCode, p []byte) { _ = c.Send(op, p) }

func (Echo) OnClose(*engine.Conn, codec.StatusCode, string) {}
