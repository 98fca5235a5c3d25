package engine

import (
	"testing"
	"unsafe"
)

// maxConnSize is Conn's size on 64-bit platforms (see the layout comment on
// Conn). Growing it costs every idle connection: raise it only on purpose,
// after checking the size class (224 bytes today, then 240, 256). It went
// from 216 to 224 for the memory budget's held byte: the same size class,
// so no connection grew.
const maxConnSize = 224

func TestConnSize(t *testing.T) {
	if got := unsafe.Sizeof(Conn{}); got > maxConnSize {
		t.Fatalf("engine.Conn is %d bytes, more than %d: see the layout comment on Conn before raising maxConnSize", got, maxConnSize)
	}
}
