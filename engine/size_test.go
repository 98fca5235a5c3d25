package engine

import (
	"testing"
	"unsafe"
)

// maxConnSize is Conn's size on 64-bit platforms (see the layout comment on
// Conn). Growing it costs every idle connection: raise it only on purpose,
// after checking the size class (144 bytes today, then 160, which holds
// each upgrade's parsed-request garbage). It went from 224 to 208 when the
// peer's address became a peerAddr: a size class of its own, away from the
// 224-byte garbage a clustered node's registry calls make (see peerAddr);
// then to 144 when an idle connection stopped keeping a Decoder (decode.go).
const maxConnSize = 144

func TestConnSize(t *testing.T) {
	if got := unsafe.Sizeof(Conn{}); got > maxConnSize {
		t.Fatalf("engine.Conn is %d bytes, more than %d: see the layout comment on Conn before raising maxConnSize", got, maxConnSize)
	}
}
