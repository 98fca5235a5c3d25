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

// A name registry entry is held for every connected user: keep what only
// authenticated names need behind nameEntry.auth.
const maxNameEntrySize = 32

func TestNameEntrySize(t *testing.T) {
	if got := unsafe.Sizeof(nameEntry{}); got > maxNameEntrySize {
		t.Fatalf("hub.nameEntry is %d bytes, more than %d: put rare state behind auth", got, maxNameEntrySize)
	}
}
