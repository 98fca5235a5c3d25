// Package docs holds the project's documentation and the test that keeps
// its commands true: TestRunnableBlocks runs the shell blocks of README.md
// and docs/deploy.md that are marked runnable, as a reader would type them
// on a fresh machine, so that a renamed flag, a changed default or a wrong
// output fails make test instead of a newcomer (as Go's example tests keep
// package docs true).
//
// A block is marked by an HTML comment (invisible on GitHub) on the line
// before its fence:
//
//	<!-- runnable session=auth ports=8080 serve=8080 -->
//	```sh
//	wsnode --auth required --auth-hmac-secret-file tmp/secret     # terminal 1
//	```
//
// Its words, all optional:
//
//   - session=NAME: the blocks of one session (in one file) run in order in
//     one scratch directory, as the steps of one try; a block without a
//     session is a session of its own. What a session's serve blocks
//     started is stopped with SIGTERM when the session ends, and must exit
//     0 (the node's drain).
//   - ports=P,Q: the session's ports, as the text gives them (8080). Each is
//     replaced by a free loopback port in the session's blocks and expects
//     (localhost:P, 127.0.0.1:P, 0.0.0.0:P and :P alike become
//     127.0.0.1:FREE), and 8080, the node's default, also goes to the
//     environment as WSNODE_ADDR, so that a bare `wsnode` listens there too.
//   - serve=P,Q: every line of the block is a command that runs until
//     stopped (a terminal of its own for a reader): each is started in the
//     background, and the block is done once ports P and Q accept
//     connections.
//   - expect=REGEXP (quoted if it has spaces; several allowed): the block's
//     output, stdout and stderr, must match (Go syntax; (?m) for ^ and $ at
//     line ends).
//   - dir=repo: run in the repository's root rather than the scratch
//     directory (make install).
//
// Every block runs with bash -e -o pipefail; a block fails on a non-zero
// exit. HOME is a temporary directory shared by all blocks (make install
// puts the commands in its .local/bin, which leads PATH), as are TMPDIR and
// the state directories; the Go build and module caches are the caller's.
package docs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"edgews/engine"
	"edgews/engine/enginetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// enginetest brings in gnet, whose process-wide goroutines stay.
	var opts []goleak.Option
	for _, f := range engine.ProcessGoroutines() {
		opts = append(opts, goleak.IgnoreTopFunction(f))
	}
	goleak.VerifyTestMain(m, opts...)
}

// block is one runnable shell block.
type block struct {
	file    string
	line    int // of the fence
	session string
	ports   []string
	serve   []string
	expect  []string
	inRepo  bool
	text    string
}

// marker is the comment that marks a runnable block; words are key=value
// or key="value with spaces".
var (
	marker = regexp.MustCompile(`^<!--\s*runnable\b(.*?)-->\s*$`)
	word   = regexp.MustCompile(`(\w+)=("[^"]*"|\S+)`)
)

// parseBlocks returns the runnable blocks of a Markdown text, in order.
func parseBlocks(file, text string) ([]block, error) {
	var blocks []block
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		m := marker.FindStringSubmatch(strings.TrimSpace(lines[i]))
		if m == nil {
			continue
		}
		b := block{file: file}
		for _, w := range word.FindAllStringSubmatch(m[1], -1) {
			v := strings.Trim(w[2], `"`)
			switch w[1] {
			case "session":
				b.session = v
			case "ports":
				b.ports = strings.Split(v, ",")
			case "serve":
				b.serve = strings.Split(v, ",")
			case "expect":
				if _, err := regexp.Compile(v); err != nil {
					return nil, fmt.Errorf("%s:%d: expect: %v", file, i+1, err)
				}
				b.expect = append(b.expect, v)
			case "dir":
				if v != "repo" {
					return nil, fmt.Errorf("%s:%d: dir=%s: only dir=repo is known", file, i+1, v)
				}
				b.inRepo = true
			default:
				return nil, fmt.Errorf("%s:%d: unknown word %s in the runnable marker", file, i+1, w[1])
			}
		}
		if rest := strings.TrimSpace(word.ReplaceAllString(m[1], "")); rest != "" {
			return nil, fmt.Errorf("%s:%d: cannot read %q in the runnable marker", file, i+1, rest)
		}
		if i+1 >= len(lines) || !strings.HasPrefix(strings.TrimSpace(lines[i+1]), "```") {
			return nil, fmt.Errorf("%s:%d: a runnable marker must be followed by a fenced block", file, i+1)
		}
		b.line = i + 2
		var body []string
		for i += 2; i < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[i]), "```"); i++ {
			body = append(body, lines[i])
		}
		if i == len(lines) {
			return nil, fmt.Errorf("%s:%d: the block does not end", file, b.line)
		}
		b.text = strings.Join(body, "\n") + "\n"
		if b.session == "" {
			b.session = fmt.Sprintf("line%d", b.line)
		}
		blocks = append(blocks, b)
	}
	return blocks, nil
}

// commands splits a serve block into its commands: one a line, with
// backslash continuations joined, comments and blank lines left out.
func commands(text string) []string {
	var cmds []string
	var cur strings.Builder
	for _, l := range strings.Split(text, "\n") {
		if strings.HasSuffix(l, "\\") {
			cur.WriteString(strings.TrimSuffix(l, "\\") + " ")
			continue
		}
		cur.WriteString(l)
		if c := strings.TrimSpace(cur.String()); c != "" && !strings.HasPrefix(c, "#") {
			cmds = append(cmds, c)
		}
		cur.Reset()
	}
	return cmds
}

// session is the state of one try: its directory, its ports, and what its
// serve blocks started.
type session struct {
	t       *testing.T
	dir     string
	env     []string
	ports   map[string]string // as written -> 127.0.0.1:FREE
	servers []*server
}

// server is one command of a serve block.
type server struct {
	cmd  *exec.Cmd
	out  *enginetest.SyncBuffer
	done chan error
}

// freePorts reserves n free loopback ports; they are free again when it
// returns (a small window in which another program could take one).
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var ports []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().String())
	}
	return ports
}

// substitute puts the session's free ports in place of the written ones.
func (s *session) substitute(text string) string {
	for p, addr := range s.ports {
		re := regexp.MustCompile(`(\b(localhost|127\.0\.0\.1|0\.0\.0\.0))?:` + p + `\b`)
		text = re.ReplaceAllLiteralString(text, addr)
	}
	return text
}

func (s *session) command(ctx context.Context, b block, script string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", script)
	cmd.Dir = s.dir
	if b.inRepo {
		cmd.Dir = ".."
	}
	cmd.Env = s.env
	// Its own process group, so that what it starts is stopped with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// run runs a block: a serve block's commands in the background until they
// listen, any other block to its end within the timeout.
func (s *session) run(b block) {
	t := s.t
	t.Helper()
	where := fmt.Sprintf("%s:%d", b.file, b.line)
	text := s.substitute(b.text)
	if b.serve != nil {
		for _, c := range commands(text) {
			srv := &server{out: &enginetest.SyncBuffer{}, done: make(chan error, 1)}
			srv.cmd = s.command(context.Background(), b, "exec "+c)
			srv.cmd.Stdout, srv.cmd.Stderr = srv.out, srv.out
			if err := srv.cmd.Start(); err != nil {
				t.Fatalf("%s: %s: %v", where, c, err)
			}
			go func() { srv.done <- srv.cmd.Wait() }()
			s.servers = append(s.servers, srv)
		}
		for _, p := range b.serve {
			s.waitListening(where, p)
		}
		return
	}
	timeout := time.Minute
	if b.inRepo {
		timeout = 5 * time.Minute // make install builds the commands
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := s.command(ctx, b, text)
	out, err := cmd.CombinedOutput()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // whatever the block left running
	if err != nil {
		t.Fatalf("%s: %v\n--- block:\n%s--- output:\n%s%s", where, err, text, out, s.serverLogs())
	}
	for _, e := range b.expect {
		if !regexp.MustCompile(s.substitute(e)).Match(out) {
			t.Fatalf("%s: the output does not match %q\n--- block:\n%s--- output:\n%s%s", where, e, text, out, s.serverLogs())
		}
	}
}

// waitListening waits until the session's port p accepts connections,
// failing if one of its servers exits first.
func (s *session) waitListening(where, p string) {
	t := s.t
	t.Helper()
	addr, ok := s.ports[p]
	if !ok {
		t.Fatalf("%s: serve=%s is not among the session's ports", where, p)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		for _, srv := range s.servers {
			select {
			case err := <-srv.done:
				srv.done <- err
				t.Fatalf("%s: %s exited (%v) before port %s listened:\n%s", where, srv.cmd.Args[len(srv.cmd.Args)-1], err, p, srv.out)
			default:
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: port %s (%s) not listening after 30s%s", where, p, addr, s.serverLogs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *session) serverLogs() string {
	var b strings.Builder
	for _, srv := range s.servers {
		fmt.Fprintf(&b, "\n--- %s:\n%s", srv.cmd.Args[len(srv.cmd.Args)-1], srv.out)
	}
	return b.String()
}

// stop sends SIGTERM to what the session started, last first, and checks
// that each exits 0 within the drain (the documented shutdown).
func (s *session) stop() {
	t := s.t
	for i := len(s.servers) - 1; i >= 0; i-- {
		srv := s.servers[i]
		_ = syscall.Kill(-srv.cmd.Process.Pid, syscall.SIGTERM)
		var err error
		select {
		case err = <-srv.done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-srv.cmd.Process.Pid, syscall.SIGKILL)
			err = errors.Join(errors.New("still running 15s after SIGTERM"), <-srv.done)
		}
		if err != nil {
			t.Errorf("%s after SIGTERM: %v, want exit 0:\n%s", srv.cmd.Args[len(srv.cmd.Args)-1], err, srv.out)
		}
	}
	s.servers = nil
}

// environment is a fresh user's: a home of its own (where make install
// puts the commands), the caller's Go caches and toolchain, no make of an
// outer make test.
func environment(t *testing.T, home string) []string {
	t.Helper()
	goenv := map[string]string{}
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOENV").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	for i, v := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		goenv[[]string{"GOCACHE", "GOMODCACHE", "GOENV"}[i]] = v
	}
	drop := map[string]bool{"HOME": true, "TMPDIR": true, "PATH": true, "MAKEFLAGS": true, "MFLAGS": true, "MAKELEVEL": true,
		"XDG_STATE_HOME": true, "XDG_CONFIG_HOME": true, "XDG_DATA_HOME": true, "XDG_CACHE_HOME": true, "GOPATH": true, "GOBIN": true}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] && !strings.HasPrefix(k, "WSNODE_") && goenv[k] == "" {
			env = append(env, kv)
		}
	}
	tmp := filepath.Join(home, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	for k, v := range goenv {
		env = append(env, k+"="+v)
	}
	return append(env, "HOME="+home, "TMPDIR="+tmp,
		"PATH="+filepath.Join(home, ".local", "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
}

func TestRunnableBlocks(t *testing.T) {
	for _, tool := range []string{"bash", "make", "curl", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			enginetest.Missing(t, tool+" not found; install it (apt-get install "+tool+") to run the documentation's commands")
		}
	}
	home := t.TempDir()
	env := environment(t, home)
	total := 0
	for _, file := range []string{"../README.md", "deploy.md"} {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(file)
		blocks, err := parseBlocks(name, string(text))
		if err != nil {
			t.Fatal(err)
		}
		total += len(blocks)
		// Sessions in the order of their first block.
		var order []string
		bySession := map[string][]block{}
		for _, b := range blocks {
			if bySession[b.session] == nil {
				order = append(order, b.session)
			}
			bySession[b.session] = append(bySession[b.session], b)
		}
		for _, name := range order {
			bs := bySession[name]
			t.Run(fmt.Sprintf("%s/%s", bs[0].file, name), func(t *testing.T) {
				runSession(t, home, env, bs)
			})
		}
	}
	if total == 0 {
		t.Fatal("no runnable blocks found in README.md and docs/deploy.md")
	}
}

func runSession(t *testing.T, home string, env []string, bs []block) {
	s := &session{t: t, ports: map[string]string{}}
	s.dir = t.TempDir()
	var written []string
	for _, b := range bs {
		for _, p := range b.ports {
			if _, ok := s.ports[p]; !ok {
				s.ports[p] = ""
				written = append(written, p)
			}
		}
	}
	for i, addr := range freePorts(t, len(written)) {
		s.ports[written[i]] = addr
	}
	s.env = env
	if addr, ok := s.ports["8080"]; ok {
		s.env = append(append([]string(nil), env...), "WSNODE_ADDR="+addr)
	}
	defer s.stop()
	for _, b := range bs {
		s.run(b)
	}
}

// The marker's grammar, and the rules of substitution and of serve blocks,
// on a small document.
func TestParseBlocks(t *testing.T) {
	doc := "text\n<!-- runnable session=a ports=8080,4222 serve=8080 -->\n```sh\nwsnode --addr :8080 \\\n  --nats-embed 127.0.0.1:4222   # one\n# a comment\nwsnode --addr localhost:8081\n```\n" +
		"<!-- runnable session=a expect=\"^ok$\" expect=x -->\n```sh\ncurl -s http://localhost:8080/healthz\n```\n" +
		"```sh\nnot marked\n```\n<!-- runnable -->\n```sh\ntrue\n```\n"
	bs, err := parseBlocks("doc.md", doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 3 || bs[0].session != "a" || bs[1].session != "a" || bs[2].session != "line17" {
		t.Fatalf("blocks %+v", bs)
	}
	if strings.Join(bs[0].ports, ",") != "8080,4222" || strings.Join(bs[0].serve, ",") != "8080" || strings.Join(bs[1].expect, "|") != "^ok$|x" {
		t.Fatalf("words: %+v", bs[:2])
	}
	cmds := commands(bs[0].text)
	if len(cmds) != 2 || cmds[0] != "wsnode --addr :8080    --nats-embed 127.0.0.1:4222   # one" || cmds[1] != "wsnode --addr localhost:8081" {
		t.Fatalf("commands %q", cmds)
	}
	s := &session{ports: map[string]string{"8080": "127.0.0.1:40001", "4222": "127.0.0.1:40002"}}
	got := s.substitute("--addr :8080 http://localhost:8080/ nats://127.0.0.1:4222 0.0.0.0:8080 :80801 :8081")
	if want := "--addr 127.0.0.1:40001 http://127.0.0.1:40001/ nats://127.0.0.1:40002 127.0.0.1:40001 :80801 :8081"; got != want {
		t.Fatalf("substitute:\n got %s\nwant %s", got, want)
	}
	for _, bad := range []string{"<!-- runnable sesion=x -->\n```sh\n```\n", "<!-- runnable -->\nno fence\n", "<!-- runnable expect=( -->\n```sh\n```\n", "<!-- runnable -->\n```sh\nno end\n"} {
		if _, err := parseBlocks("bad.md", bad); err == nil {
			t.Errorf("parseBlocks(%q) accepted it", bad)
		}
	}
}
