package cluster

import (
	"testing"
	"unsafe"
)

// TestHeldSize pins the per-user entry of the registry: one per connected
// user of a clustered node, kept by value in a worker's map.
func TestHeldSize(t *testing.T) {
	if got := unsafe.Sizeof(held{}); got != 16 {
		t.Errorf("held is %d bytes, want 16 (an interned room handle and a revision)", got)
	}
}
