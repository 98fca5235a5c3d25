package hub

import (
	"testing"
	"unsafe"
)

// maxMemberSize is Member's size on 64-bit platforms (see the layout
// comment on Member). Growing it costs every idle chat connection: raise
// it only on purpose, after checking the size class (64 bytes today, a
// full class; then 80, 96).
const maxMemberSize = 64

func TestMemberSize(t *testing.T) {
	if got := unsafe.Sizeof(Member{}); got > maxMemberSize {
		t.Fatalf("hub.Member is %d bytes, more than %d: see the layout comment on Member before raising maxMemberSize", got, maxMemberSize)
	}
}
