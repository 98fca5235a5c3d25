package engine

import (
	"bytes"
	"testing"

	"edgews/codec"
)

type fuzzEcho struct{}

func (fuzzEcho) OnOpen(*Conn)                                 {}
func (fuzzEcho) OnMessage(c *Conn, op codec.OpCode, p []byte) { _ = c.Send(op, p) }
func (fuzzEcho) OnClose(*Conn, codec.StatusCode, string)      {}

// FuzzHandshake feeds arbitrary bytes, split in two reads at a fuzzed point,
// through the engine's whole read path (handshake, then frames) on a
// socket-less connection. Nothing may panic; whatever is not a valid upgrade
// gets an HTTP error and a close, never a 101.
func FuzzHandshake(f *testing.F) {
	valid := "GET /echo HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	m := [4]byte{1, 2, 3, 4}
	f.Add([]byte(valid), 10)
	f.Add(append([]byte(valid), codec.AppendFrame(nil, true, codec.OpText, []byte("hi"), &m)...), len(valid)+3)
	f.Add([]byte("GET /nope HTTP/1.1\r\nHost: h\r\n\r\n"), 5)
	f.Add([]byte("POST /echo HTTP/1.1\r\nHost: h\r\n\r\n"), 0)
	f.Add([]byte("GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n"), 3)
	f.Add([]byte("GET / HTTP/1.1\r\n"+string(bytes.Repeat([]byte("X: y\r\n"), 300))), 100)
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		p := NewInProc(Config{MaxHeaderBytes: 1024}, 1)
		p.Server().Handle("/echo", fuzzEcho{})
		p.Server().HandleHTTP("/healthz", func(*Request) Response { return Response{Body: []byte("ok")} })
		pc := &pipeConn{el: p.els[0], capture: true, dec: codec.Decoder{Role: codec.RoleClient}}
		p.srv.OnOpen(pc)
		c := pc.ctx.(*Conn)
		if split < 0 || split > len(data) {
			split = len(data) / 2
		}
		for _, part := range [][]byte{data[:split], data[split:]} {
			if c.state == stateClosed || pc.closed {
				break
			}
			pc.in = append(pc.in, part...)
			p.srv.OnTraffic(pc)
		}
		p.Drain()
		if bytes.HasPrefix(pc.out, []byte("HTTP/1.1 101")) && !bytes.HasPrefix(data, []byte("GET /echo ")) {
			t.Fatalf("upgraded a request that does not start with GET /echo: %q", data)
		}
		if headerEnd(data) < 0 && len(data) <= 1024 && len(pc.out) > 0 && !bytes.HasPrefix(data, []byte("GET")) {
			// An incomplete head is waited for unless it is already invalid... only the
			// size rule answers early, so any answer here must be a refusal.
			if bytes.HasPrefix(pc.out, []byte("HTTP/1.1 101")) {
				t.Fatalf("101 for an incomplete request")
			}
		}
	})
}
