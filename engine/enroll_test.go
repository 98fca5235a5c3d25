//go:build linux

package engine_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"edgews/engine"
	"edgews/engine/enginetest"
	"golang.org/x/sys/unix"
)

// When gnet cannot register an enrolled socket with its loop's epoll
// (epoll_ctl ADD fails: ENOSPC past fs.epoll.max_user_watches, ENOMEM),
// gnet v2.10.0 closes the descriptor and Enroll still returns nil, with
// neither OnOpen nor OnClose (eventloop.register0). The test makes that
// registration fail for real: with the loop held in a task, it registers
// gnet's duplicate of the accepted socket in the loop's epoll set first, so
// gnet's own epoll_ctl ADD fails (EEXIST). The node's count of open
// sockets, which refuses every accept with 503 once it nears the
// descriptor limit, must not keep the lost socket.
func TestEnrollRegistrationFails(t *testing.T) {
	srv, _ := echoServer(t, engine.Config{Loops: 1})
	port := srv.Addr().(*net.TCPAddr).Port
	c0 := dialRaw(t, srv.Addr(), "/echo")
	// The loop's epoll set: the one that holds c0's socket.
	fds0 := socketFds(t, serverInode(t, port, c0.conn.LocalAddr().(*net.TCPAddr).Port))
	if len(fds0) != 1 {
		t.Fatalf("c0's socket on %d descriptors, want gnet's one: %v", len(fds0), fds0)
	}
	loopEp := -1
	for _, ep := range epollFds(t) {
		if slices.Contains(epollTargets(t, ep), fds0[0]) {
			loopEp = ep
		}
	}
	if loopEp < 0 {
		t.Fatal("no epoll set holds c0's socket")
	}
	if n := engine.Sockets(srv); n != 1 {
		t.Fatalf("%d sockets counted before, want 1", n)
	}

	// Hold the loop, so that the next socket's registration waits.
	held, unhold := make(chan struct{}), make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(unhold) }) }
	t.Cleanup(release)
	_ = srv.Loops()[0].Post(loopFunc{func(*engine.Loop) { close(held); <-unhold }, make(chan struct{})})
	<-held
	c1, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	// The acceptor duplicates the accepted socket for gnet and waits for
	// the loop: two descriptors, the accepted one in Go's own epoll set.
	inode := serverInode(t, port, c1.LocalAddr().(*net.TCPAddr).Port)
	var fds []int
	enginetest.CheckFor(t, 5*time.Second, func() bool { fds = socketFds(t, inode); return len(fds) == 2 }, "gnet's duplicate of the accepted socket")
	var watched []int
	for _, ep := range epollFds(t) {
		watched = append(watched, epollTargets(t, ep)...)
	}
	dup := slices.IndexFunc(fds, func(fd int) bool { return !slices.Contains(watched, fd) })
	if dup < 0 {
		t.Fatalf("descriptors %v are both in an epoll set", fds)
	}
	if err := unix.EpollCtl(loopEp, unix.EPOLL_CTL_ADD, fds[dup], &unix.EpollEvent{Fd: int32(fds[dup])}); err != nil {
		t.Fatal(err)
	}
	release()

	// gnet closed its duplicate and the acceptor the accepted socket.
	_ = c1.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c1.Read(make([]byte, 1)); n != 0 || (err != io.EOF && !isReset(err)) {
		t.Fatalf("the lost socket's client read %d bytes, %v; want EOF", n, err)
	}
	enginetest.CheckFor(t, 5*time.Second, func() bool { return engine.Sockets(srv) == 1 }, "the socket count back to 1 (c0)")
	// The node goes on serving.
	dialRaw(t, srv.Addr(), "/echo")
	if n := engine.Sockets(srv); n != 2 {
		t.Fatalf("%d sockets counted with c0 and a new connection, want 2", n)
	}
}

func isReset(err error) bool { return err != nil && strings.Contains(err.Error(), "connection reset") }

// serverInode is the inode of the server's side of the loopback TCP
// connection between server port srv and client port cli, from /proc/net/tcp.
func serverInode(t *testing.T, srv, cli int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	local, remote := fmt.Sprintf(":%04X", srv), fmt.Sprintf(":%04X", cli)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 9 && strings.HasSuffix(f[1], local) && strings.HasSuffix(f[2], remote) {
			return f[9]
		}
	}
	t.Fatalf("no socket from :%d to :%d in /proc/net/tcp", srv, cli)
	return ""
}

// socketFds lists this process's descriptors of the socket with inode.
func socketFds(t *testing.T, inode string) []int {
	return fdsLinkingTo(t, "socket:["+inode+"]")
}

// epollFds lists this process's epoll descriptors.
func epollFds(t *testing.T) []int { return fdsLinkingTo(t, "anon_inode:[eventpoll]") }

func fdsLinkingTo(t *testing.T, target string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var fds []int
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && l == target {
			fd, _ := strconv.Atoi(e.Name())
			fds = append(fds, fd)
		}
	}
	return fds
}

// epollTargets lists the descriptors registered in epoll set ep.
func epollTargets(t *testing.T, ep int) []int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", ep))
	if err != nil {
		t.Fatal(err)
	}
	var fds []int
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "tfd:" {
			fd, _ := strconv.Atoi(f[1])
			fds = append(fds, fd)
		}
	}
	return fds
}
