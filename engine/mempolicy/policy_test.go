package mempolicy

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func TestApply(t *testing.T) {
	gc0, lim0 := debug.SetGCPercent(-1), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(gc0)
	t.Cleanup(func() { debug.SetGCPercent(gc0); debug.SetMemoryLimit(lim0) })

	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	v2 := file("memory.max", "1073741824\n")
	v2max := file("memory.max.none", "max\n")
	v1none := file("limit_in_bytes", "9223372036854771712\n")
	missing := filepath.Join(dir, "missing")
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	none := []string{missing}

	tests := []struct {
		name      string
		cfg       Config
		preGC     int // GC percent in effect before Apply (as GOGC would have set it)
		wantGC    int
		wantLimit int64
		wantSrc   string
	}{
		{"defaults, no cgroup", Config{Getenv: env(), CgroupFiles: none}, 80, DefaultGCPercent, math.MaxInt64, "none"},
		{"flags", Config{GCPercent: 37, MemoryLimit: 512 << 20, Getenv: env("GOGC", "80", "GOMEMLIMIT", "1GiB"), CgroupFiles: []string{v2}}, 100, 37, 512 << 20, "flag"},
		{"GOGC kept when no flag", Config{Getenv: env("GOGC", "80"), CgroupFiles: none}, 80, 80, math.MaxInt64, "none"},
		{"GC off with a limit", Config{GCPercent: -1, MemoryLimit: 1 << 30, Getenv: env(), CgroupFiles: none}, 100, -1, 1 << 30, "flag"},
		{"cgroup v2 limit", Config{Getenv: env(), CgroupFiles: []string{missing, v2}}, 80, DefaultGCPercent, cgroupShare(1 << 30), "cgroup"},
		{"cgroup v2 max", Config{Getenv: env(), CgroupFiles: []string{v2max, v2}}, 100, DefaultGCPercent, math.MaxInt64, "none"},
		{"cgroup v1 without limit", Config{Getenv: env(), CgroupFiles: []string{v1none}}, 100, DefaultGCPercent, math.MaxInt64, "none"},
		{"negative limit: none, even under a cgroup", Config{MemoryLimit: -1, Getenv: env(), CgroupFiles: []string{v2}}, 100, DefaultGCPercent, math.MaxInt64, "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetGCPercent(tt.preGC)
			debug.SetMemoryLimit(math.MaxInt64)
			a, err := Apply(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if a.GCPercent != tt.wantGC || a.MemoryLimit != tt.wantLimit || a.Source != tt.wantSrc {
				t.Fatalf("Apply = %+v, want GC %d, limit %d from %s", a, tt.wantGC, tt.wantLimit, tt.wantSrc)
			}
			if gc := debug.SetGCPercent(tt.preGC); gc != tt.wantGC {
				t.Fatalf("runtime GC percent %d, want %d", gc, tt.wantGC)
			}
			if lim := debug.SetMemoryLimit(-1); lim != tt.wantLimit {
				t.Fatalf("runtime memory limit %d, want %d", lim, tt.wantLimit)
			}
		})
	}
}

// GOMEMLIMIT set in the environment is what the runtime already applied:
// Apply keeps it.
func TestApplyKeepsGOMEMLIMIT(t *testing.T) {
	lim0 := debug.SetMemoryLimit(3 << 30) // as GOMEMLIMIT=3GiB would have
	gc0 := debug.SetGCPercent(-1)
	debug.SetGCPercent(gc0)
	t.Cleanup(func() { debug.SetGCPercent(gc0); debug.SetMemoryLimit(lim0) })
	a, err := Apply(Config{Getenv: func(k string) string {
		if k == "GOMEMLIMIT" {
			return "3GiB"
		}
		return ""
	}})
	if err != nil || a.MemoryLimit != 3<<30 || a.Source != "GOMEMLIMIT" || debug.SetMemoryLimit(-1) != 3<<30 {
		t.Fatalf("Apply = %+v, want the 3 GiB GOMEMLIMIT kept", a)
	}
}

// cgroupShare is the default limit under a cgroup limit of n bytes.
func cgroupShare(n int64) int64 { f := DefaultLimitFraction; return int64(float64(n) * f) }

// The collector off without any memory limit is refused, and nothing changes.
func TestApplyRefusesGCOffWithoutLimit(t *testing.T) {
	gc0 := debug.SetGCPercent(-1)
	debug.SetGCPercent(gc0)
	t.Cleanup(func() { debug.SetGCPercent(gc0) })
	for _, limit := range []int64{0, -1} {
		_, err := Apply(Config{GCPercent: -1, MemoryLimit: limit, Getenv: func(string) string { return "" }, CgroupFiles: []string{filepath.Join(t.TempDir(), "none")}})
		if err == nil {
			t.Fatalf("GC off with limit %d and no cgroup: no error", limit)
		}
		if gc := debug.SetGCPercent(gc0); gc != gc0 {
			t.Fatalf("GC percent changed to %d by a refused Apply", gc)
		}
	}
}
