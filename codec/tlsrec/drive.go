package tlsrec

import (
	"crypto/tls"
	"errors"
	"net"
	"time"
)

// Drive runs a handshake over nc, a blocking connection (a tool's or a
// test's: an event loop feeds a Handshake itself): whole records read
// from nc are fed to it, its flights written to nc, until it is done. It
// returns the Handshake and the bytes read after its last record, which
// follow its Leftover. nc's read deadline is used and cleared.
func Drive(nc net.Conn, pool *Pool, role Role, cfg *tls.Config) (*Handshake, []byte, error) {
	done := make(chan *Handshake, 1)
	send := func(_ *Handshake, b []byte) { _, _ = nc.Write(b) }
	fin := func(h *Handshake) { done <- h }
	h := newHandshake(role, cfg, send, fin)
	if !pool.Submit(h) {
		return nil, nil, errors.New("tlsrec: handshake queue full")
	}
	restc := make(chan []byte, 1)
	go func() {
		var buf []byte
		tmp := make([]byte, 16<<10)
		for {
			n, err := nc.Read(tmp)
			buf = append(buf, tmp[:n]...)
			if k := RecordsLen(buf); k > 0 {
				if !h.Feed(buf[:k]) {
					break
				}
				buf = append(buf[:0], buf[k:]...)
			}
			if err != nil {
				h.mu.Lock()
				if !h.finished { // the peer left mid-handshake: free the worker
					h.aborted = true
					h.cond.Broadcast()
				}
				h.mu.Unlock()
				break
			}
		}
		restc <- buf
	}()
	<-done
	_ = nc.SetReadDeadline(time.Now()) // ends the reader's Read
	rest := <-restc
	_ = nc.SetReadDeadline(time.Time{})
	return h, rest, h.Err()
}
