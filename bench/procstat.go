package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Server measurements from /proc, taken by the coordinator: the server is
// measured from outside, like any other process.

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux ABI.
const clockTicks = 100

// procSample is one reading of a process.
type procSample struct {
	rss int64   // bytes
	cpu float64 // user + system seconds
	sys float64 // system seconds (of cpu)
	csw int64   // context switches of its threads, voluntary and not
	vcs int64   // the voluntary ones (a thread blocked)
	err error
}

// sampleProc reads VmRSS from /proc/PID/status, the CPU time from the
// process's CPU clock (procCPU), or utime+stime from /proc/PID/stat where
// that clock cannot be read, system time from /proc/PID/stat, and the
// context switches of every thread.
func sampleProc(pid int) procSample {
	var s procSample
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procSample{err: fmt.Errorf("bench: server pid %d: %w", pid, err)}
	}
	if s.rss, err = statusKB(st, "VmRSS:"); err != nil {
		return procSample{err: fmt.Errorf("bench: server pid %d: %w", pid, err)}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{err: fmt.Errorf("bench: server pid %d: %w", pid, err)}
	}
	if s.cpu, s.sys, err = statCPU(stat); err != nil {
		return procSample{err: fmt.Errorf("bench: server pid %d: %w", pid, err)}
	}
	if cpu, ok := procCPU(pid); ok {
		s.cpu = cpu
		s.sys = min(s.sys, cpu) // ticks against nanoseconds
	}
	s.csw, s.vcs = ctxSwitches(pid)
	return s
}

// ctxSwitches sums voluntary_ctxt_switches and nonvoluntary_ctxt_switches
// over the threads in /proc/PID/task, and returns the total and the
// voluntary ones: a thread that has exited no longer counts (the Go
// runtime keeps its threads; uWebSockets has one).
func ctxSwitches(pid int) (all, voluntary int64) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0
	}
	for _, t := range tasks {
		st, err := os.ReadFile(dir + "/" + t.Name() + "/status")
		if err != nil {
			continue
		}
		v := statusCount(st, "voluntary_ctxt_switches:")
		all += v + statusCount(st, "nonvoluntary_ctxt_switches:")
		voluntary += v
	}
	return all, voluntary
}

// statusCount reads a "Name:  123" line of /proc/PID/status; 0 if absent.
func statusCount(status []byte, name string) int64 {
	i := bytes.Index(status, []byte("\n"+name))
	if i < 0 {
		return 0
	}
	f := bytes.Fields(status[i+1+len(name):])
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.ParseInt(string(f[0]), 10, 64)
	return n
}

// procCPU reads the CPU time of every thread of process pid, those that
// have exited included, in nanoseconds, from its CPU clock (what
// clock_getcpuclockid(3) returns: CPUCLOCK_SCHED of the process). Why not
// /proc/PID/stat alone: its times are in clock ticks (10 ms), so a
// process that worked a few milliseconds during a short run read 0 s.
func procCPU(pid int) (float64, bool) {
	const cpuclockSched = 2 // CPUCLOCK_SCHED; the per-thread bit (4) unset
	var ts unix.Timespec
	if err := unix.ClockGettime(int32(^pid<<3|cpuclockSched), &ts); err != nil {
		return 0, false
	}
	return float64(ts.Nano()) / 1e9, true
}

// statusKB reads a "Name:   123 kB" line of /proc/PID/status, in bytes.
func statusKB(status []byte, name string) (int64, error) {
	i := bytes.Index(status, []byte(name))
	if i < 0 {
		return 0, fmt.Errorf("no %s in status", name)
	}
	f := bytes.Fields(status[i+len(name):])
	if len(f) < 2 {
		return 0, fmt.Errorf("short %s line", name)
	}
	kb, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil {
		return 0, err
	}
	return kb << 10, nil
}

// statCPU returns utime+stime (fields 14 and 15) of /proc/PID/stat, and
// stime alone, in seconds. Fields are counted after the command name, which
// is in parentheses and may hold spaces.
func statCPU(stat []byte) (cpu, sys float64, err error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("malformed stat")
	}
	f := bytes.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime 15.
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("short stat")
	}
	ut, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	st, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("malformed stat times")
	}
	return float64(ut+st) / clockTicks, float64(st) / clockTicks, nil
}

// sockstatTCPMem reads the pages of memory the kernel holds for TCP
// sockets ("TCP: inuse 5 orphan 0 tw 0 alloc 7 mem 1" in /proc/net/sockstat).
func sockstatTCPMem() (int64, error) {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return 0, err
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if !bytes.HasPrefix(line, []byte("TCP:")) {
			continue
		}
		f := bytes.Fields(line)
		for i := 1; i+1 < len(f); i += 2 {
			if string(f[i]) == "mem" {
				return strconv.ParseInt(string(f[i+1]), 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("bench: no TCP mem in /proc/net/sockstat")
}

// serverSnap is every measured process at one moment.
type serverSnap struct {
	procs  map[int]procSample
	tcpMem int64
	tcpErr error
}

func snapServers(pids []int) serverSnap {
	s := serverSnap{procs: make(map[int]procSample, len(pids))}
	for _, pid := range pids {
		s.procs[pid] = sampleProc(pid)
	}
	s.tcpMem, s.tcpErr = sockstatTCPMem()
	return s
}

// peakSampler reads the servers' RSS every peakEvery until stopped and
// keeps each one's highest, for the attack scenarios: a peak between two
// snapshots is what an attack is about.
type peakSampler struct {
	quit chan struct{}
	done chan struct{}
	once sync.Once
	// Written by the sampling goroutine until done is closed.
	peak map[int]int64   // bytes
	at   map[int]float64 // seconds since t0
}

// peakEvery is the sampling period: /proc/PID/status costs microseconds.
const peakEvery = 20 * time.Millisecond

func startPeak(pids []int, t0 time.Time) *peakSampler {
	p := &peakSampler{quit: make(chan struct{}), done: make(chan struct{}), peak: map[int]int64{}, at: map[int]float64{}}
	go func() {
		defer close(p.done)
		t := time.NewTicker(peakEvery)
		defer t.Stop()
		for {
			for _, pid := range pids {
				if s := sampleProc(pid); s.err == nil && s.rss > p.peak[pid] {
					p.peak[pid], p.at[pid] = s.rss, time.Since(t0).Seconds()
				}
			}
			select {
			case <-p.quit:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// stop ends the sampling (once; later calls just return p) and returns p,
// whose maps may then be read.
func (p *peakSampler) stop() *peakSampler {
	p.once.Do(func() { close(p.quit) })
	<-p.done
	return p
}
