package engine

import "edgews/codec"

// Handler receives the events of the WebSocket connections of one route.
// All methods run on the connection's event loop: they must not block, and
// they may call the Conn's loop-only methods.
type Handler interface {
	// OnOpen is called once the upgrade response has been queued.
	OnOpen(c *Conn)
	// OnMessage is called for every complete text or binary message.
	// payload is valid only during the call (it points into the loop's read
	// buffer or the decoder's fragment buffer, never into memory gnet can
	// release during the call): copy it to keep it.
	OnMessage(c *Conn, op codec.OpCode, payload []byte)
	// OnClose is called exactly once for every connection that was opened,
	// whatever ended it. code is the peer's close code, the code the server
	// sent, or 1006 (abnormal closure) when the TCP connection ended first.
	// The connection must not be written to afterwards (writes are dropped).
	// It never runs inside another callback or Task.Run: a connection
	// closed during one (a write that fails on a peer's reset closes it
	// inside the write) gets its OnClose once that event is over, so lists
	// a handler walks while writing do not change under the walk.
	OnClose(c *Conn, code codec.StatusCode, reason string)
}

// Subprotocoler is implemented by Handlers that speak WebSocket subprotocols.
// The first protocol offered by the client (Sec-WebSocket-Protocol) that is in
// the returned list is selected and reported by Conn.Protocol.
type Subprotocoler interface {
	Subprotocols() []string
}

// HTTPHandler answers a plain HTTP GET on the node's port. The engine writes
// the response with Content-Length and "Connection: close", then closes the
// connection. It runs on an event loop: it must not block.
type HTTPHandler func(r *Request) Response

// Response is a plain HTTP response written by an HTTPHandler.
type Response struct {
	Status      int    // if zero, 200
	ContentType string // if empty, "text/plain; charset=utf-8"
	Body        []byte
	Header      []string // extra "Name: value" lines, without CRLF
}

// Task is work posted to a Loop from any goroutine (see Loop.Post).
type Task interface {
	// Run runs on the loop. It may write to the loop's connections.
	Run(l *Loop)
	// Done runs on the loop after the frames written by this batch of tasks
	// were handed to the kernel or copied into gnet's outbound buffers: shared
	// frame buffers passed to Conn.WriteShared may be released here.
	Done()
}
