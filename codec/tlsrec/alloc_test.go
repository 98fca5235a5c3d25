//go:build !race

package tlsrec

import (
	"strconv"
	"testing"
)

// TestAllocs: sealing frames into records in a caller's buffer and opening
// records in place allocate nothing once the AEADs are built.
func TestAllocs(t *testing.T) {
	for id, name := range suiteNames {
		cli, srv := pairConns(t, id)
		frames := [][]byte{pattern(30, 1), pattern(1000, 2), pattern(20000, 3)}
		out := make([]byte, 0, SealedLen(21030))
		buf := make([]byte, 0, SealedLen(21030))
		run := func() {
			var err error
			if out, err = srv.Seal(out[:0], frames...); err != nil {
				t.Fatal(err)
			}
			buf = append(buf[:0], out...)
			res, err := cli.Open(buf)
			if err != nil || len(res.Data) != 21030 {
				t.Fatal(err)
			}
		}
		run()
		if n := testing.AllocsPerRun(100, run); n != 0 {
			t.Errorf("%s: %v allocations per Seal and Open, want 0", name, n)
		}
	}
}

func BenchmarkSeal(b *testing.B) {
	for _, size := range []int{64, 1024, 16384} {
		for id, name := range suiteNames {
			b.Run(name+"/"+strconv.Itoa(size), func(b *testing.B) {
				_, srv := pairConns(b, id)
				p := pattern(size, 1)
				out := make([]byte, 0, SealedLen(size))
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for range b.N {
					out, _ = srv.Seal(out[:0], p)
				}
			})
		}
	}
}
