package hub

import "testing"

// Every size maps to the smallest class that holds it.
func TestSizeClass(t *testing.T) {
	for n := 0; n <= 9000; n++ {
		c := sizeClass(n)
		if n > 8192 {
			if c != -1 {
				t.Fatalf("sizeClass(%d) = %d, want -1", n, c)
			}
			continue
		}
		if c < 0 || c >= numSizeClasses || classSize(c) < n || (c > 0 && classSize(c-1) >= n) {
			t.Fatalf("sizeClass(%d) = %d (size %d)", n, c, classSize(c))
		}
	}
	if classSize(numSizeClasses-1) != 8192 {
		t.Fatalf("largest class %d", classSize(numSizeClasses-1))
	}
}
