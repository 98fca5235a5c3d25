package compare

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Servers is every server compare knows, the node first.
var Servers = []string{"wsnode", "gorilla", "gws", "nbio"}

// cluster is one server's processes sharing one port.
type cluster struct {
	name  string
	addr  string
	procs []*exec.Cmd
	pids  []int
}

// readyRE matches the line each server prints once it accepts: the peers'
// "listening on ADDR pid PID", the node's log line "msg=listening addr=ADDR pid=PID".
var readyRE = regexp.MustCompile(`listening(?: on | addr=)(\S+) pid[ =](\d+)`)

// freePort returns a 127.0.0.1 address that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// start runs n processes of server name from dir on one free port (with
// SO_REUSEPORT when n > 1) and waits until each has said it accepts.
func start(ctx context.Context, dir, name string, n int, extra ...string) (*cluster, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	c := &cluster{name: name, addr: addr}
	for i := 0; i < n; i++ {
		args := []string{"--addr", addr}
		if name == "wsnode" {
			// Info logs the ready line and nothing per message.
			args = append(args, "--log-level", "info")
		}
		if n > 1 {
			args = append(args, "--reuseport")
		}
		args = append(args, extra...)
		cmd := exec.Command(filepath.Join(dir, name), args...)
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		cmd.Stderr = cmd.Stdout // both servers' ready lines, one reader
		if err := cmd.Start(); err != nil {
			c.stop()
			return nil, fmt.Errorf("compare: start %s: %w", name, err)
		}
		c.procs = append(c.procs, cmd)
		pid, err := waitReady(ctx, out, 15*time.Second)
		if err != nil {
			c.stop()
			return nil, fmt.Errorf("compare: %s process %d: %w", name, i, err)
		}
		c.pids = append(c.pids, pid)
	}
	return c, nil
}

// waitReady reads a server's output until its ready line, then keeps
// draining it in the background so the server never blocks on a full pipe.
// A server that exits before it listens is reported with the last lines it
// printed (at most readyTail of them), which usually say why.
func waitReady(ctx context.Context, r io.Reader, timeout time.Duration) (int, error) {
	type result struct {
		pid  int
		tail []string
	}
	found := make(chan result, 1)
	go func() {
		sc := bufio.NewScanner(r)
		sent := false
		var tail []string
		for sc.Scan() {
			line := sc.Text()
			if sent {
				continue
			}
			if len(tail) == readyTail {
				tail = append(tail[:0], tail[1:]...)
			}
			tail = append(tail, line)
			if m := readyRE.FindStringSubmatch(line); m != nil {
				pid, _ := strconv.Atoi(m[2])
				found <- result{pid: pid}
				sent = true
			}
		}
		if !sent {
			found <- result{pid: -1, tail: tail}
		}
	}()
	select {
	case res := <-found:
		if res.pid < 0 {
			if len(res.tail) == 0 {
				return 0, fmt.Errorf("exited before it listened, printing nothing")
			}
			return 0, fmt.Errorf("exited before it listened; its last output:\n%s", strings.Join(res.tail, "\n"))
		}
		return res.pid, nil
	case <-time.After(timeout):
		return 0, fmt.Errorf("not ready after %v", timeout)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// readyTail is how many of a server's last output lines waitReady keeps for
// the error of a server that exits before it listens.
const readyTail = 20

// stop sends SIGTERM to every process and waits (SIGKILL after 15s).
func (c *cluster) stop() {
	for _, p := range c.procs {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range c.procs {
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
}

func (c *cluster) pidList() string {
	s := make([]string, len(c.pids))
	for i, p := range c.pids {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ",")
}

// Node is one node process started by StartNode.
type Node struct {
	Addr string // 127.0.0.1:port
	PID  int
	c    *cluster
}

// StartNode runs dir/wsnode on a free loopback port with the extra flags
// and waits until it accepts, for drivers and tests outside this package.
// Stop ends it.
func StartNode(ctx context.Context, dir string, extra ...string) (*Node, error) {
	c, err := start(ctx, dir, "wsnode", 1, extra...)
	if err != nil {
		return nil, err
	}
	return &Node{Addr: c.addr, PID: c.pids[0], c: c}, nil
}

// Stop sends SIGTERM and waits for the process (SIGKILL after 15 s).
func (n *Node) Stop() { n.c.stop() }
