// Package codec encodes and decodes RFC 6455 WebSocket frames on byte slices.
//
// It never touches a socket: the engine hands the Decoder the bytes gnet has
// buffered (Conn.Peek(-1)), the Decoder says how many of them it consumed, and
// the engine discards exactly that many. A frame that has not fully arrived is
// left in the buffer untouched, so the decoder never blocks and never copies an
// unfragmented frame. It imports only github.com/gobwas/ws (for OpCode,
// StatusCode, Header and the SIMD Cipher), github.com/klauspost/compress/flate
// and the standard library.
//
// # Protocol flow
//
//	client                                  server (RoleServer decoder)
//	  | --- masked data / ping / pong ---> |  Next: KindMessage / KindPing / KindPong
//	  | <-------- unmasked data / pong --- |  AppendFrame(dst, true, op, p, nil)
//	  | --- masked close (code, reason) -> |  Next: KindClose
//	  | <-------- close (echo code) ------ |  AppendClose(dst, code, "", nil)
//
// On a protocol violation the server sends a close with CloseCode(err), calls
// StartDrain, and keeps calling Next until it sees the peer's KindClose (or a
// timeout fires); drain mode skips everything else without buffering it.
//
// # Frame layout
//
//	byte 0:  FIN(1) RSV1-3(3) opcode(4)
//	byte 1:  MASK(1) len7(7)            len7 < 126: payload length
//	         +2 bytes big-endian length when len7 == 126
//	         +8 bytes big-endian length when len7 == 127 (MSB must be 0)
//	         +4 bytes masking key when MASK == 1
//	payload: length bytes, XORed with the key when masked
//
// # Usage
//
//	var d codec.Decoder // RoleServer, default limits
//	// in OnTraffic, on the event loop:
//	buf, _ := c.Peek(-1)
//	consumed := 0
//	for {
//		ev, n, err := d.Next(buf[consumed:])
//		consumed += n
//		if err != nil {
//			out = codec.AppendClose(out, codec.CloseCode(err), "", nil)
//			d.StartDrain()
//			continue // drain mode never errors
//		}
//		if n == 0 && ev.Kind == codec.KindNone {
//			break // need more bytes
//		}
//		if ev.Kind != codec.KindNone {
//			handle(ev) // ev.Payload is valid until the Discard below
//		}
//	}
//	c.Discard(consumed)
//
// # Compression (permessage-deflate, RFC 7692)
//
// NegotiateDeflate answers a client's Sec-WebSocket-Extensions offers, always
// with server_no_context_takeover and client_no_context_takeover, so that
// every message is compressed and inflated on its own. A Decoder with
// Deflate set lets RSV1 through on the first frame of a data message and
// returns the message still compressed (Event.Compressed); RSV1 on a
// continuation or control frame, or without Deflate, is a 1002. The caller
// inflates with an Inflater shared by all the connections of its event loop,
// which bounds the output at the message limit (1009), fails on a stream
// that does not inflate (1002) and checks UTF-8 afterwards (1007). A
// Deflater, also one per loop, compresses outgoing messages:
//
//	d := codec.NegotiateDeflate(req.Header("Sec-WebSocket-Extensions"))
//	dec.Deflate = d.Accepted() // answer with d.Response
//	...
//	if ev.Compressed {
//		p, err := loopInflater.Inflate(ev.Payload, ev.Op == codec.OpText, maxMessage)
//	}
//	out = loopDeflater.AppendCompressedFrame(out, codec.OpText, p)
//
// A Decoder belongs to one connection and is not safe for concurrent use. The
// encoder functions are pure and safe for concurrent use on distinct dst slices.
package codec
