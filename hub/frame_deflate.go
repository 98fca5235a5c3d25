package hub

import (
	"sync"

	"edgews/codec"
	"edgews/engine"
)

// deflaters are the hub's permessage-deflate writers. A broadcast is
// compressed on whichever goroutine builds it (a loop, usually, but not
// necessarily), so the hub takes a writer from a sync.Pool, whose per-P
// caches give each loop its own in practice; a writer is never held per
// connection. With server_no_context_takeover every message starts from
// an empty window, so any writer serves any message.
type deflaters struct {
	pool  sync.Pool
	level int
	min   int // smallest payload compressed; -1: compression off
}

func newDeflaters(cfg engine.Config) *deflaters {
	d := &deflaters{level: cfg.CompressionLevel, min: -1}
	if cfg.Compression {
		d.min = cfg.CompressionThreshold
	}
	d.pool.New = func() any { return codec.NewDeflater(d.level) }
	return d
}

// compress gives f its compressed twin if a member may want it: compression
// is on, some open connection negotiated it, and the payload is at least
// the threshold. Recipients that negotiated compression are then written
// the twin, the others the plain frame (deliver).
func (h *Hub) compress(f *Frame) {
	d := h.z
	if f == nil || d.min < 0 || len(f.Payload()) < d.min || h.srv.CompressedConns() == 0 {
		return
	}
	z := d.pool.Get().(*codec.Deflater)
	f.zbuf = bufPool.Get()
	f.zbuf.B = z.AppendCompressedFrame(f.zbuf.B[:0], f.op(), f.Payload())
	d.pool.Put(z)
	h.stats.Compressed.Add(1)
}

// compressFor gives f its compressed twin if m is to receive it compressed
// (a reply, a whisper: one recipient).
func (h *Hub) compressFor(m *Member, f *Frame) {
	if h.z.min >= 0 && m.c.CompressSize(len(f.Payload())) {
		h.compress(f)
	}
}

// bytesFor is the encoding of f that c is written: the compressed twin if
// there is one (so the payload passed the threshold) and c takes
// compressed messages of this size, else the plain frame.
func (f *Frame) bytesFor(c *engine.Conn) []byte {
	if w := c.DeflateWindow(); f.zbuf != nil && w != 0 && len(f.buf.B)-maxServerHeader <= w { // 0: not negotiated
		return f.zbuf.B
	}
	return f.Bytes()
}

// op is the frame's opcode, from its header.
func (f *Frame) op() codec.OpCode { return codec.OpCode(f.buf.B[f.off] & 0x0f) }
