// Package cmd_test builds the three peer binaries and checks what the bench
// relies on: --addr, the "listening on ADDR pid PID" line, the raised file
// limit, both routes, and a clean exit on SIGTERM.
package cmd_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"edgews/bench/peers/internal/conformance"
	"edgews/bench/peers/internal/route"
)

var peers = []string{"gorilla", "gws", "nbio"}

func TestBinaries(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go toolchain not in PATH")
	}
	dir := t.TempDir()
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, p := range peers {
		args = append(args, "edgews/bench/peers/cmd/"+p)
	}
	if out, err := exec.Command(goBin, args...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, p := range peers {
		t.Run(p, func(t *testing.T) { testBinary(t, filepath.Join(dir, p)) })
		t.Run(p+"/reuseport", func(t *testing.T) { testReusePort(t, filepath.Join(dir, p)) })
	}
}

// testReusePort starts two processes on one address with --reuseport: both
// must bind and serve (the bench runs several per peer beyond one process's
// descriptor limit).
func testReusePort(t *testing.T, bin string) {
	addr := freeAddr(t)
	for i := 0; i < 2; i++ {
		cmd := exec.Command(bin, "--addr", addr, "--reuseport")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || !readyRE.MatchString(strings.TrimSuffix(line, "\n")) {
			t.Fatalf("process %d: %q %v\n%s", i, line, err, stderr.String())
		}
	}
	c := conformance.Dial(t, addr, route.EchoPath)
	conformance.Write(t, c, websocket.TextMessage, []byte("shared"))
	if _, got := conformance.Read(t, c); string(got) != "shared" {
		t.Fatalf("echo through a shared port: %q", got)
	}
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

var readyRE = regexp.MustCompile(`^listening on (\S+) pid (\d+)$`)

func testBinary(t *testing.T, bin string) {
	addr := freeAddr(t)
	cmd := exec.Command(bin, "--addr", addr)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Read the first stdout line, drain the rest, then reap the process
	// (Wait must come after the pipe is read to EOF).
	line := make(chan string, 1)
	exited := make(chan error, 1)
	go func() {
		br := bufio.NewReader(stdout)
		if l, err := br.ReadString('\n'); err == nil {
			line <- strings.TrimSuffix(l, "\n")
		}
		_, _ = io.Copy(io.Discard, br)
		exited <- cmd.Wait()
	}()
	defer func() {
		_ = cmd.Process.Kill() // no-op once it has exited
	}()

	select {
	case l := <-line:
		m := readyRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("first stdout line %q, want %q", l, "listening on ADDR pid PID")
		}
		if m[1] != addr {
			t.Fatalf("listening on %s, want %s", m[1], addr)
		}
		if pid, _ := strconv.Atoi(m[2]); pid != cmd.Process.Pid {
			t.Fatalf("printed pid %d, process pid %d", pid, cmd.Process.Pid)
		}
	case err := <-exited:
		t.Fatalf("exited before ready: %v\n%s", err, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("no ready line\n%s", stderr.String())
	}

	checkNoFile(t, cmd.Process.Pid)

	c := conformance.Dial(t, addr, route.EchoPath)
	conformance.Write(t, c, websocket.BinaryMessage, []byte("bin"))
	if mt, got := conformance.Read(t, c); mt != websocket.BinaryMessage || string(got) != "bin" {
		t.Fatalf("echo: opcode %d %q", mt, got)
	}
	chat := conformance.Dial(t, addr, route.ChatPath)
	if _, got := conformance.Read(t, chat); string(got) != string(route.Greeting(1)) {
		t.Fatalf("chat greeting %q", got)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10s after SIGTERM")
	}
}

// checkNoFile checks that the soft RLIMIT_NOFILE equals the hard one.
func checkNoFile(t *testing.T, pid int) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/limits")
	if errors.Is(err, os.ErrNotExist) {
		t.Log("no /proc: rlimit not checked")
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "Max open files") {
			continue
		}
		f := strings.Fields(strings.TrimPrefix(l, "Max open files"))
		if len(f) < 2 || f[0] != f[1] {
			t.Fatalf("open files limit not raised: %q", l)
		}
		return
	}
	t.Fatal("no 'Max open files' in /proc/PID/limits")
}
