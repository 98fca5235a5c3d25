package mempolicy

import (
	"errors"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// DefaultGCPercent is the GC percent used when neither Config.GCPercent nor
// GOGC sets one: the runtime's own. Measured (docs/deploy.md, Memory
// policy): once a Releaser returns the memory a wave of connections freed,
// a lower value hardly lowers the idle figure (814 B per idle /echo
// connection at 100, 804-821 B at 50), while it made broadcast cost up to
// 17% more CPU per delivery (gnet's pooled output buffers are refilled
// after every collection).
const DefaultGCPercent = 100

// DefaultLimitFraction is the share of a cgroup's memory limit used as the
// memory limit when Config.MemoryLimit is zero: the rest is for what the Go
// runtime does not count (kernel socket buffers charged to the cgroup, the
// binary's text).
const DefaultLimitFraction = 0.9

// Config is a memory policy. The zero value takes every default.
type Config struct {
	// GCPercent is the heap growth over the live heap that starts a
	// collection, as GOGC. If zero, GOGC from the environment if set, else
	// DefaultGCPercent. Negative turns the collector off until the memory
	// limit is reached (GOGC=off): Apply refuses it without a memory limit.
	GCPercent int
	// MemoryLimit is the runtime's soft memory limit in bytes, as
	// GOMEMLIMIT. If zero, GOMEMLIMIT from the environment if set, else
	// DefaultLimitFraction of the cgroup's memory limit if the process has
	// one, else none. Negative means none.
	MemoryLimit int64

	// Getenv reads the environment; if nil, os.Getenv.
	Getenv func(string) string
	// CgroupFiles are read, in order, for the cgroup's memory limit; the
	// first that holds a number is used. If nil, CgroupLimitFiles.
	CgroupFiles []string
}

// CgroupLimitFiles hold the process's cgroup memory limit: cgroup v2, then
// v1, as seen from inside a container (its own cgroup is the root).
var CgroupLimitFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// Applied is the policy in effect after Apply.
type Applied struct {
	GCPercent   int    // as set; negative: off
	MemoryLimit int64  // bytes; math.MaxInt64: none
	Source      string // where the memory limit came from: "flag", "GOMEMLIMIT", "cgroup" or "none"
}

// Apply sets the GC percent and the memory limit of cfg and returns them.
// It refuses, changing nothing, to turn the collector off without a memory
// limit: the heap would grow without bound.
func Apply(cfg Config) (Applied, error) {
	getenv := cfg.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if cfg.GCPercent < 0 {
		_, cgroup := cgroupLimit(cgroupFiles(cfg))
		if cfg.MemoryLimit < 0 || cfg.MemoryLimit == 0 && getenv("GOMEMLIMIT") == "" && !cgroup {
			return Applied{}, errors.New("mempolicy: the collector off (GC percent < 0) needs a memory limit")
		}
	}
	var a Applied
	switch {
	case cfg.GCPercent != 0:
		a.GCPercent = cfg.GCPercent
		debug.SetGCPercent(a.GCPercent)
	case getenv("GOGC") != "":
		a.GCPercent = debug.SetGCPercent(-1) // the runtime parsed GOGC at start: read it back
		debug.SetGCPercent(a.GCPercent)
	default:
		a.GCPercent = DefaultGCPercent
		debug.SetGCPercent(a.GCPercent)
	}
	a.MemoryLimit, a.Source = math.MaxInt64, "none"
	switch {
	case cfg.MemoryLimit > 0:
		a.MemoryLimit, a.Source = cfg.MemoryLimit, "flag"
	case cfg.MemoryLimit < 0:
	case getenv("GOMEMLIMIT") != "":
		a.MemoryLimit, a.Source = debug.SetMemoryLimit(-1), "GOMEMLIMIT" // the runtime parsed it at start
	default:
		if n, ok := cgroupLimit(cgroupFiles(cfg)); ok {
			a.MemoryLimit, a.Source = int64(float64(n)*DefaultLimitFraction), "cgroup"
		}
	}
	debug.SetMemoryLimit(a.MemoryLimit)
	return a, nil
}

func cgroupFiles(cfg Config) []string {
	if cfg.CgroupFiles == nil {
		return CgroupLimitFiles
	}
	return cfg.CgroupFiles
}

// cgroupLimit reads the first of files that holds a memory limit. "max"
// (v2) and v1's "no limit" (a huge page-rounded number) mean none.
func cgroupLimit(files []string) (int64, bool) {
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			continue
		}
		if n >= 1<<62 { // v1 reports no limit as about MaxInt64 rounded to a page
			return 0, false
		}
		return n, true
	}
	return 0, false
}
