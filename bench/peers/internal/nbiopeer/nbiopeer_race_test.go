//go:build race

package nbiopeer

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"edgews/bench/peers/internal/conformance"
)

// nbio is not race-detector clean by design: it marks its hot paths
// //go:norace and hands connections between its listener and poller
// goroutines through epoll, which the detector cannot see, so an
// in-process -race run reports races inside nbio (e.g. nbhttp.Conn written
// in Engine.listen, read by the poller in ServerProcessor.OnComplete).
//
// Under -race the suite therefore runs against cmd/nbio built with -race
// and GORACE=halt_on_error=0: reports whose access stacks stay inside nbio
// (and the standard library) are logged; any report whose access stacks
// name this module's code fails the test.
func TestConformance(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go toolchain not in PATH")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "nbio")
	build := exec.Command(goBin, "build", "-race", "-o", bin, "edgews/bench/peers/cmd/nbio")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	raceLogs := filepath.Join(dir, "race")

	conformance.Run(t, serveBinary(bin, raceLogs), quirks)

	files, _ := filepath.Glob(raceLogs + ".*")
	var nbioOnly int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, report := range strings.Split(string(b), "WARNING: DATA RACE")[1:] {
			// Judge by the two access stacks only: the "Goroutine N
			// created at" sections that follow always pass through main.
			access, _, _ := strings.Cut(report, "\nGoroutine ")
			if strings.Contains(access, "edgews/bench/peers/") {
				t.Errorf("data race in this module's code:\n%s", report)
			} else {
				nbioOnly++
			}
		}
	}
	t.Logf("%d race report(s) confined to nbio's own code (see comment above)", nbioOnly)
}

// serveBinary returns a conformance.Serve that runs bin on ln's address.
func serveBinary(bin, raceLogs string) conformance.Serve {
	return func(ln net.Listener) (func(), error) {
		addr := ln.Addr().String()
		_ = ln.Close() // the child binds the same loopback port
		cmd := exec.Command(bin, "--addr", addr)
		cmd.Env = append(os.Environ(), "GORACE=halt_on_error=0 exitcode=0 log_path="+raceLogs)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		ready := make(chan bool, 1)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := bufio.NewReader(stdout)
			l, err := br.ReadString('\n')
			ready <- err == nil && strings.HasPrefix(l, "listening on "+addr+" ")
			_, _ = io.Copy(io.Discard, br)
		}()
		stop := func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { wg.Wait(); _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		}
		select {
		case ok := <-ready:
			if !ok {
				stop()
				return nil, io.ErrUnexpectedEOF
			}
		case <-time.After(20 * time.Second):
			stop()
			return nil, os.ErrDeadlineExceeded
		}
		return stop, nil
	}
}
