package main

import (
	"runtime"
	"testing"
)

// The node gives the runtime a P beyond its loops only when goroutines off
// the loops serve it, and never overrides GOMAXPROCS from the environment.
func TestSchedule(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	noEnv := func(string) string { return "" }
	env := func(k string) string {
		if k == "GOMAXPROCS" {
			return "2"
		}
		return ""
	}
	cases := []struct {
		name    string
		loops   int
		offLoop bool
		getenv  func(string) string
		want    int
	}{
		{"a spare P for the API or NATS", 2, true, noEnv, 3},
		{"chat and echo alone: a P per loop", 2, false, noEnv, 2},
		{"GOMAXPROCS set", 2, true, env, 2},
		{"already more Ps than loops", 1, true, noEnv, 2},
	}
	for _, c := range cases {
		runtime.GOMAXPROCS(2)
		loops, procs := schedule(c.loops, c.offLoop, c.getenv)
		if loops != c.loops || procs != c.want || runtime.GOMAXPROCS(0) != c.want {
			t.Errorf("%s: schedule(%d, %v) = %d loops, %d Ps (runtime %d), want %d Ps",
				c.name, c.loops, c.offLoop, loops, procs, runtime.GOMAXPROCS(0), c.want)
		}
	}
	runtime.GOMAXPROCS(2)
	if loops, _ := schedule(0, false, noEnv); loops != runtime.NumCPU() {
		t.Errorf("schedule(0) = %d loops, want one per CPU (%d)", loops, runtime.NumCPU())
	}
}
