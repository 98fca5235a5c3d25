// Package engine runs WebSocket connections on gnet v2's epoll reactor with no
// goroutine per connection.
//
// A few acceptor goroutines (one per loop, never one per connection) accept
// connections and enroll them into gnet's event loops (one per core by
// default), which read their bytes; see accept.go for why the engine, not
// gnet, accepts. For every readable connection the engine parses
// the HTTP/1.1 upgrade request from the bytes gnet has buffered, then feeds the
// following bytes to an incremental codec.Decoder: a partial request or frame
// stays in gnet's buffer until more bytes arrive, so a loop never blocks.
//
// Usage:
//
//	srv := engine.New(engine.Config{Addr: ":8080"})
//	srv.Handle("/echo", echoHandler)     // WebSocket route: OnOpen, OnMessage, OnClose
//	srv.HandleHTTP("/healthz", health)   // plain GET route, answered and closed
//	err := srv.Start()                   // Run in the background; returns once it listens
//	...
//	srv.Shutdown(ctx)                    // stop accepting, close 1001, drain, stop
//	err = srv.Wait()                     // ErrServerClosed
//
// Upgrade hook. A Handler that also implements Upgrader sees every upgrade
// request that passed the engine's checks and decides: refuse it with an
// HTTP status and headers (a Refusal, counted in Stats.RefusedBy by its
// reason), or let it open with an identity attached (the Conn's Value in
// OnOpen). Authentication plugs in here without the engine knowing of it.
// Upgrade runs on the loop, or with Config.UpgradeWorkers on a bounded pool
// of goroutines off the loops while the handshake waits.
// Handlers keep per-connection deadlines of their own (a token's expiry) and
// act on them from a HandleSweep function, run by each loop's timer sweep.
//
// Threading rules. Handler callbacks, Task.Run and every Conn method documented
// "loop only" run on the connection's own event loop and must not block. From
// any other goroutine, reach a connection by posting a Task to its Loop
// (Conn.Loop().Post). Each loop batches the frames written during one event
// (a read, a batch of tasks, a timer sweep) and hands each connection's frames
// to the kernel in a single writev at the end of it.
//
// Compression. With Config.Compression the engine negotiates
// permessage-deflate (RFC 7692) at the upgrade, always with no context
// takeover either way, so a connection carries only the negotiated window
// size (a byte in padding) and no flate state: each loop has one inflater
// and one deflater for all its connections (deflate.go). Compressed messages
// are inflated before OnMessage, bounded by MaxMessageSize; Conn.Send
// compresses from CompressionThreshold bytes up; code that encodes shared
// frames asks Conn.CompressSize and uses Loop.Deflater.
//
// Memory. Every connection is charged the bytes it keeps between events,
// as allocated: gnet's inbound ring holding a partial frame, the decoder's
// fragment buffer, gnet's outbound buffer for a peer that does not read
// (memory.go; Conn.Held, Server.HeldBytes). Loops keep the sums and publish
// them once per event, never per frame. Over Config.MemoryBudget, each loop
// evicts its share of the largest holders (close 1013, or a TCP close when
// the peer's output is backed up) until the node is under 90% of it, and
// one goroutine per server hands the freed memory back to the OS
// (release.go). Config.MessageTimeout closes (1008) a connection whose
// frame or fragmented message does not complete in time.
//
// Timers. Pings, idle timeouts, handshake timeouts, message timeouts and
// close-handshake timeouts use no time.Timer and no goroutine per
// connection: gnet's ticker posts a sweep to every loop, and each loop
// walks its own connections.
package engine
