package bench

import (
	"math"
	"os"
	"testing"
	"time"
)

func TestSampleProcSelf(t *testing.T) {
	s := sampleProc(os.Getpid())
	if s.err != nil || s.rss <= 0 || s.cpu < 0 || s.sys < 0 || s.sys > s.cpu || s.csw <= 0 || s.vcs > s.csw {
		t.Fatalf("sample = %+v", s)
	}
	// A few milliseconds of work show: /proc/PID/stat's clock ticks
	// (10 ms) read the same time before and after.
	work := time.Now()
	for time.Since(work) < 2*time.Millisecond {
	}
	if a := sampleProc(os.Getpid()); a.err != nil || a.cpu <= s.cpu {
		t.Fatalf("cpu %v s, then %v s after 2 ms of work (%v)", s.cpu, a.cpu, a.err)
	}
	if s := sampleProc(1 << 30); s.err == nil {
		t.Fatal("no error for a missing pid")
	}
	if _, err := sockstatTCPMem(); err != nil {
		t.Fatal(err)
	}
}

func TestStatCPU(t *testing.T) {
	// A command name with spaces and parentheses; utime 250, stime 150 ticks.
	stat := []byte("4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 4 0 12345 1000000 500 18446744073709551615")
	cpu, sys, err := statCPU(stat)
	if err != nil || cpu != 4.0 || sys != 1.5 {
		t.Fatalf("cpu, sys = %v, %v, %v; want 4.0 s, 1.5 s", cpu, sys, err)
	}
	st := []byte("Name:\tx\nvoluntary_ctxt_switches:\t120\nnonvoluntary_ctxt_switches:\t7\n")
	if v, n := statusCount(st, "voluntary_ctxt_switches:"), statusCount(st, "nonvoluntary_ctxt_switches:"); v != 120 || n != 7 {
		t.Fatalf("switches = %d, %d; want 120, 7", v, n)
	}
	kb, err := statusKB([]byte("Name:\tx\nVmRSS:\t   1234 kB\n"), "VmRSS:")
	if err != nil || kb != 1234<<10 {
		t.Fatalf("rss = %d, %v", kb, err)
	}
}

// The server's CPU is read from its CPU clock in nanoseconds and its
// system part from /proc in 10 ms ticks: over a short span the ticks may
// exceed the whole, and the report bounds the part by it.
func TestSysBoundedByCPU(t *testing.T) {
	snap := func(cpu, sys float64) serverSnap {
		return serverSnap{procs: map[int]procSample{7: {rss: 1 << 20, cpu: cpu, sys: sys}}}
	}
	rep := &Report{Conns: ConnReport{OpenAtStart: 10}}
	fillServers(rep, &Config{ServerPIDs: []int{7}}, snap(1, 0.5), snap(1, 0.5), snap(1.02, 0.53))
	s := rep.Servers[0]
	if math.Abs(s.CPUSeconds-0.02) > 1e-9 || s.SysSeconds != s.CPUSeconds {
		t.Fatalf("cpu %v s, system %v s: want 0.02 s, the system part bounded by it", s.CPUSeconds, s.SysSeconds)
	}
	rep = &Report{Conns: ConnReport{OpenAtStart: 10}}
	fillServers(rep, &Config{ServerPIDs: []int{7}}, snap(1, 0.5), snap(1, 0.5), snap(1.5, 0.7))
	if s := rep.Servers[0]; math.Abs(s.SysSeconds-0.2) > 1e-9 || math.Abs(s.CPUSeconds-0.5) > 1e-9 {
		t.Fatalf("cpu %v s, system %v s: want 0.5 and 0.2", s.CPUSeconds, s.SysSeconds)
	}
}
