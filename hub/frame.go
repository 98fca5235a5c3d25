package hub

import (
	"sync"
	"sync/atomic"

	"edgews/codec"
	"github.com/valyala/bytebufferpool"
)

// Frame is a server frame encoded once and shared by every recipient of a
// broadcast. It is reference-counted: each event loop that writes it holds
// one reference and releases it (Task.Done) once its writes were handed to
// the kernel or copied into gnet's buffers; the last release returns the
// buffer to the pool.
type Frame struct {
	buf  *bytebufferpool.ByteBuffer
	zbuf *bytebufferpool.ByteBuffer // the compressed twin (whole frame, RSV1 set), or nil; see frame_deflate.go
	off  int                        // the header is written right-aligned before the payload
	refs atomic.Int32
}

// bufPool is split from bytebufferpool's default pool so that broadcast
// frames calibrate their own size class.
var (
	bufPool   bytebufferpool.Pool
	framePool = sync.Pool{New: func() any { return new(Frame) }}
)

// maxServerHeader is the largest unmasked header (64-bit length).
const maxServerHeader = 10

// beginFrame returns a frame whose payload is appended to f.buf.B; finish
// then writes the header in front of it. Building the payload in place lets
// "[name]: " and the text be copied once, into the pooled buffer.
func beginFrame() *Frame {
	f := framePool.Get().(*Frame)
	f.buf = bufPool.Get()
	f.buf.B = append(f.buf.B[:0], make([]byte, maxServerHeader)...)
	return f
}

// finish writes the frame header before the payload appended so far.
func (f *Frame) finish(op codec.OpCode) *Frame {
	n := len(f.buf.B) - maxServerHeader
	f.off = maxServerHeader - codec.HeaderLen(n, false)
	codec.AppendHeader(f.buf.B[f.off:f.off], true, op, n, nil)
	return f
}

// Bytes is the encoded frame. Valid until the last reference is released.
func (f *Frame) Bytes() []byte { return f.buf.B[f.off:] }

// Payload is the frame's payload.
func (f *Frame) Payload() []byte { return f.buf.B[maxServerHeader:] }

// release drops one reference and recycles the frame after the last one.
func (f *Frame) release() {
	if f.refs.Add(-1) == 0 {
		bufPool.Put(f.buf)
		f.buf = nil
		if f.zbuf != nil {
			bufPool.Put(f.zbuf)
			f.zbuf = nil
		}
		framePool.Put(f)
	}
}
