// Package tlsrec is TLS for event loops: the TLS 1.3 record layer on byte
// slices, and crypto/tls's handshake run off the loop, so that a
// connection holds no crypto/tls object and no goroutine once it is up.
// The node (engine) and the load client (bench) both use it; it never
// touches a socket.
//
// # Protocol flow
//
//	client                                      server
//	  | --- ClientHello -----------------------> |  loop: ScanHello until whole,
//	  |                                          |  then Feed a Handshake, Submit to a Pool
//	  | <-- ServerHello ... Finished ----------- |  worker: crypto/tls writes (send callback)
//	  | --- Finished, first request ----------> |  loop: Feed; the worker's Read stops
//	  |                                          |  at Finished's record end (done callback)
//	  | <== records (Conn.Seal) =============== |  loop: Conn.Init(Secrets), Open(Leftover)
//	  | === records (Conn.Open) ==============> |  no crypto/tls, no goroutine from here
//	  | --- KeyUpdate(update_requested) ------> |  Open follows it; Seal answers it
//	  | <-- close_notify (AppendAlert) -------- |
//
// # Record layout (RFC 8446 section 5)
//
//	header:  type(1) = 23, legacy_record_version(2) = 0x0303, length(2)
//	body:    AEAD-sealed TLSInnerPlaintext, at most 2^14 + 256 bytes:
//	         content || real type(1) || zero padding, plus a 16-byte tag
//	nonce:   IV xor the direction's 64-bit sequence number (left-padded to 12 bytes)
//	AAD:     the 5-byte header
//
// Keys come from the traffic secrets by HKDF-Expand-Label (built by hand
// over crypto/hkdf); the suites are TLS_AES_128_GCM_SHA256,
// TLS_AES_256_GCM_SHA384 (crypto/cipher) and TLS_CHACHA20_POLY1305_SHA256
// (golang.org/x/crypto/chacha20poly1305).
//
// # Usage
//
//	// on the loop, a read:
//	buf, _ := gc.Peek(-1)
//	res, err := rec.Open(buf)       // decrypts in place
//	handle(res.Data)                // application data, aliases buf
//	gc.Discard(res.N)
//	if err != nil { out, _ = rec.AppendAlert(out, alertOf(err)); close }
//	// a write: frames packed into records in a per-loop scratch
//	out, _ = rec.Seal(scratch[:0], frame1, frame2)
//	gc.Write(out)
//
// TLS 1.2 connections keep their crypto/tls Conn (Handshake.Is12), driven
// on the loop by Handshake.ReadPlain and WritePlain.
package tlsrec
