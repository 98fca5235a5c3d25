package bench

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Agents run a run's workers on other machines. `wsbench agent --listen
// :7070` on each load machine waits for a controller (`wsbench run PLAN
// --agents host1:7070,host2:7070`), whose coordinator then speaks the
// worker protocol (protocol.go) to every worker of every agent exactly as
// to its own: the agent starts the workers it is given and relays their
// lines over one TCP connection, each tagged with its worker. So the
// stages, the progress lines with their histograms, the results and the
// merge are the same code whether the workers are here or there.
//
//	controller                                                      agent
//	  | <-- {"op":"hello","hello":{name, nonce, auth, procs, fd limit}} --- |
//	  | --- {"op":"auth","mac":hex(HMAC-SHA256(token, nonce))}          --> |
//	  | <-- {"op":"ok"}, or {"op":"refused","err":"..."} and a close    --- |
//	  | --- {"op":"run","procs":N}                                      --> |  N workers are coming
//	  | --- {"op":"ctl","worker":K,"ctl":{"op":"spec",...}}             --> |  start worker K
//	  | --- {"op":"ctl","worker":K,"ctl":{"op":"start"|"close",...}}    --> |
//	  | <-- {"op":"w","msg":{worker K's line}}                          --- |  as they come
//	  | <-> {"op":"ping"} every second, both ways                           |  silence: lost
//	  | --- {"op":"bye"}                                                --> |  stop, wait for the next
//
// The token is never sent: the controller proves it knows it with an HMAC
// of the agent's fresh nonce. It authenticates, it does not encrypt: run
// agents on a private network (or through SSH tunnels). An agent that
// dies, or stays silent for AgentTimeout, is lost: its workers count as
// closed with an error naming it, the other workers end their load phase
// at once, and the report keeps what every worker reported (the lost
// ones' stages and seconds up to their last line).
//
// Clocks: the agents start at one wall-clock instant and stamp messages
// with their wall clocks, so their clocks must agree (NTP) for the start
// to be together and for the latency of messages that cross agents (a
// chat line from one agent to a member on another) to be right.

// DefaultAgentTimeout is how long an agent or a controller may be silent
// before the other side counts it lost.
const DefaultAgentTimeout = 10 * time.Second

// agentVersion names the agent protocol.
const agentVersion = "wsbench-agent/1"

// ErrAgentLost: an agent died or went silent during the run.
var ErrAgentLost = errors.New("bench: agent lost")

// agentMsg is one line between a controller and an agent.
type agentMsg struct {
	Op     string      `json:"op"`
	Hello  *agentHello `json:"hello,omitempty"`
	MAC    string      `json:"mac,omitempty"`
	Err    string      `json:"err,omitempty"`
	Procs  int         `json:"procs,omitempty"`
	Worker int         `json:"worker,omitempty"`
	Ctl    *ctlMsg     `json:"ctl,omitempty"`
	Msg    *workerMsg  `json:"msg,omitempty"`
}

// agentHello is what an agent says of itself.
type agentHello struct {
	Version   string `json:"version"`
	Name      string `json:"name"`
	Nonce     string `json:"nonce"`
	Auth      bool   `json:"auth"`            // it requires the token
	Procs     int    `json:"procs,omitempty"` // workers it runs; 0: as the connections need
	FileLimit int    `json:"file_limit"`      // per process
	CPUs      int    `json:"cpus"`
}

// agentMAC is the proof of the token for a nonce.
func agentMAC(token []byte, nonce string) string {
	m := hmac.New(sha256.New, token)
	m.Write([]byte(agentVersion + "\n" + nonce))
	return hex.EncodeToString(m.Sum(nil))
}

// AgentConfig is a wsbench agent.
type AgentConfig struct {
	// Name is the agent's name in reports. If empty, the hostname.
	Name string
	// Token is what a controller must prove it knows. Nil: any controller
	// may drive this agent (say so loudly: it is a load generator).
	Token []byte
	// Procs is the worker processes per run. If zero, as many as the
	// descriptor limit needs for the connections the agent is given.
	Procs int
	// SourceAddrs are this machine's addresses to bind connections to
	// (expanded by ParseSourceAddrs); checked at the start.
	SourceAddrs []string
	// Timeout is how long a controller may be silent. If zero,
	// DefaultAgentTimeout.
	Timeout time.Duration
	// WorkerCommand starts a worker process (see Config.WorkerCommand).
	WorkerCommand []string
	// Logf logs sessions. Nil: discard.
	Logf func(format string, args ...any)
}

// ServeAgent serves controllers on ln, one run at a time, until ctx ends.
func ServeAgent(ctx context.Context, ln net.Listener, cfg AgentConfig) error {
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultAgentTimeout
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if len(cfg.SourceAddrs) > 0 {
		if err := checkLocal(cfg.SourceAddrs); err != nil {
			return err
		}
	}
	var busy atomic.Bool
	var sessions sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	defer sessions.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("bench: agent: %w", err)
		}
		mu.Lock()
		conns[c] = true
		mu.Unlock()
		sessions.Go(func() {
			defer func() {
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
				c.Close()
			}()
			cfg.Logf("agent: controller %s", c.RemoteAddr())
			if err := agentSession(c, &cfg, &busy); err != nil {
				cfg.Logf("agent: controller %s: %v", c.RemoteAddr(), err)
			} else {
				cfg.Logf("agent: controller %s: run over", c.RemoteAddr())
			}
		})
	}
}

// agentBusy is the refusal of a controller while another's run is on.
const agentBusy = "busy: another controller is running a run here"

// agentSession serves one controller: the handshake, then (unless busy
// with another) its workers.
func agentSession(c net.Conn, cfg *AgentConfig, busy *atomic.Bool) error {
	var nonce [32]byte
	_, _ = rand.Read(nonce[:])
	hello := agentHello{Version: agentVersion, Name: cfg.Name, Nonce: hex.EncodeToString(nonce[:]), Auth: len(cfg.Token) > 0,
		Procs: cfg.Procs, FileLimit: fileLimit(), CPUs: runtime.NumCPU()}
	enc := json.NewEncoder(c)
	dec := json.NewDecoder(bufio.NewReader(c))
	_ = c.SetDeadline(time.Now().Add(cfg.Timeout))
	if err := enc.Encode(agentMsg{Op: "hello", Hello: &hello}); err != nil {
		return err
	}
	var auth agentMsg
	if err := dec.Decode(&auth); err != nil || auth.Op != "auth" {
		return fmt.Errorf("no auth line: %v", err)
	}
	if len(cfg.Token) > 0 {
		why := ""
		switch {
		case auth.MAC == "":
			why = "this agent requires a token (give the controller --token-file)"
		case !hmac.Equal([]byte(auth.MAC), []byte(agentMAC(cfg.Token, hello.Nonce))):
			why = "wrong token"
		}
		if why != "" {
			_ = enc.Encode(agentMsg{Op: "refused", Err: why})
			return errors.New("refused: " + why)
		}
	}
	if !busy.CompareAndSwap(false, true) {
		_ = enc.Encode(agentMsg{Op: "refused", Err: agentBusy})
		return errors.New(agentBusy)
	}
	defer busy.Store(false)
	if err := enc.Encode(agentMsg{Op: "ok"}); err != nil {
		return err
	}
	_ = c.SetDeadline(time.Time{})

	// Workers' lines go out through one writer, with a ping every second;
	// once the connection is gone it drains them, so that no worker blocks.
	msgs := make(chan workerMsg, 256)
	quit := make(chan struct{})
	var wmu sync.Mutex
	send := func(m agentMsg) error {
		wmu.Lock()
		defer wmu.Unlock()
		_ = c.SetWriteDeadline(time.Now().Add(cfg.Timeout))
		return enc.Encode(m)
	}
	var writer sync.WaitGroup
	writer.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var err error
		for {
			select {
			case m := <-msgs:
				if err == nil {
					err = send(agentMsg{Op: "w", Msg: &m})
				}
			case <-t.C:
				if err == nil {
					err = send(agentMsg{Op: "ping"})
				}
			case <-quit:
				return
			}
		}
	})

	workers := map[int]*workerConn{}
	local := Config{Procs: 1, WorkerCommand: cfg.WorkerCommand}
	var err error
	for {
		_ = c.SetReadDeadline(time.Now().Add(cfg.Timeout))
		var m agentMsg
		if err = dec.Decode(&m); err != nil {
			err = fmt.Errorf("controller lost: %w", err)
			break
		}
		if m.Op == "bye" {
			break
		}
		switch {
		case m.Op == "run":
			local.Procs = max(m.Procs, 1)
		case m.Op == "ctl" && m.Ctl != nil && m.Ctl.Op == opSpec && m.Ctl.Spec != nil && workers[m.Worker] == nil:
			spec := *m.Ctl.Spec
			if len(cfg.SourceAddrs) > 0 {
				spec.Config.SourceAddrs = cfg.SourceAddrs
			}
			wc, serr := startWorker(spec, &local, msgs, quit)
			if serr != nil {
				msgs <- workerMsg{Op: opError, Worker: spec.Index, Err: &FailError{Reason: ReasonOther, Msg: fmt.Sprintf("bench: agent %s: %v", cfg.Name, serr)}}
				continue
			}
			workers[m.Worker] = wc
		case m.Op == "ctl" && m.Ctl != nil && workers[m.Worker] != nil:
			workers[m.Worker].send(*m.Ctl)
		}
	}
	// Stop the workers (the controller has, unless it is gone): close,
	// wait for them to end (their lines relayed meanwhile), then stop.
	for _, wc := range workers {
		wc.send(ctlMsg{Op: opClose})
	}
	deadline := time.After(10 * time.Second)
	for _, wc := range workers {
		select {
		case <-wc.exit:
		case <-deadline:
		}
	}
	close(quit)
	writer.Wait()
	for _, wc := range workers {
		wc.stop(5 * time.Second)
	}
	busy.Store(false) // before the controller sees the close: its next run may come at once
	return err
}

// agentSet is the controller's agents.
type agentSet struct {
	cfg   *Config
	links []*agentLink
	owner []*agentLink // by worker index
}

// agentLink is the controller's connection to one agent.
type agentLink struct {
	addr     string // as given in Config.Agents: the agent's name in reports
	hello    agentHello
	conn     net.Conn
	dec      *json.Decoder
	wmu      sync.Mutex
	enc      *json.Encoder
	timeout  time.Duration
	first    int // its workers are first..first+procs-1
	procs    int
	started  bool            // run sent
	attached bool            // reader and pinger started
	exits    []chan struct{} // per worker: closed when it is gone
	gone     []bool          // the reader's: workers gone
	bye      atomic.Bool
	lostWhy  atomic.Pointer[string]
	done     chan struct{} // the reader ended
	stop     chan struct{} // ends the pinger
}

// dialAgents connects to every agent (in parallel, each bounded), and
// deals the workers: an agent's own Procs, or as many as its descriptor
// limit needs for its share. It sets cfg.Procs to their sum.
func dialAgents(ctx context.Context, cfg *Config) (*agentSet, error) {
	if len(cfg.SourceAddrs) > 0 {
		return nil, fmt.Errorf("bench: with agents, source addresses are each agent's own: give --source-addrs to wsbench agent")
	}
	if cfg.AgentTimeout <= 0 {
		cfg.AgentTimeout = DefaultAgentTimeout
	}
	set := &agentSet{cfg: cfg, links: make([]*agentLink, len(cfg.Agents))}
	errs := make([]error, len(cfg.Agents))
	var wg sync.WaitGroup
	for i, addr := range cfg.Agents {
		wg.Go(func() { set.links[i], errs[i] = dialAgent(ctx, addr, cfg) })
	}
	wg.Wait()
	for i, err := range errs {
		// The agent may be winding down the last run: a moment, not more.
		for try := 0; try < 10 && err != nil && strings.HasSuffix(err.Error(), agentBusy); try++ {
			time.Sleep(200 * time.Millisecond)
			set.links[i], err = dialAgent(ctx, cfg.Agents[i], cfg)
			errs[i] = err
		}
	}
	if err := errors.Join(errs...); err != nil {
		set.close()
		return nil, err
	}
	users := cfg.users()
	per := (users + len(set.links) - 1) / len(set.links)
	total := 0
	for _, l := range set.links {
		procs := l.hello.Procs
		if procs <= 0 {
			room := max(l.hello.FileLimit-fdSlack, 1)
			procs = (per + room - 1) / room
		}
		l.first, l.procs = total, max(procs, 1)
		total += l.procs
		l.exits, l.gone = make([]chan struct{}, l.procs), make([]bool, l.procs)
		for i := range l.exits {
			l.exits[i] = make(chan struct{})
		}
		for range l.procs {
			set.owner = append(set.owner, l)
		}
	}
	cfg.Procs = total
	return set, nil
}

// dialAgent connects and authenticates to one agent.
func dialAgent(ctx context.Context, addr string, cfg *Config) (*agentLink, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bench: agent %s unreachable: %v", addr, unwrapOp(err))
	}
	l := &agentLink{addr: addr, conn: c, dec: json.NewDecoder(bufio.NewReader(c)), enc: json.NewEncoder(c),
		timeout: cfg.AgentTimeout, done: make(chan struct{}), stop: make(chan struct{})}
	fail := func(format string, a ...any) (*agentLink, error) {
		c.Close()
		return nil, fmt.Errorf("bench: agent %s: %s", addr, fmt.Sprintf(format, a...))
	}
	_ = c.SetDeadline(time.Now().Add(cfg.AgentTimeout))
	var m agentMsg
	if err := l.dec.Decode(&m); err != nil {
		return fail("no hello: %v (is it a wsbench agent?)", err)
	}
	switch {
	case m.Op == "refused":
		return fail("refused the controller: %s", m.Err)
	case m.Op != "hello" || m.Hello == nil:
		return fail("no hello (is it a wsbench agent?)")
	case m.Hello.Version != agentVersion:
		return fail("speaks %s, this controller %s", m.Hello.Version, agentVersion)
	}
	l.hello = *m.Hello
	mac := ""
	if len(cfg.Token) > 0 {
		mac = agentMAC(cfg.Token, l.hello.Nonce)
	}
	if !l.hello.Auth && len(cfg.Token) > 0 {
		cfg.logf("bench: agent %s (%s) has no token: any controller can drive it", addr, l.hello.Name)
	}
	if err := l.enc.Encode(agentMsg{Op: "auth", MAC: mac}); err != nil {
		return fail("%v", err)
	}
	if err := l.dec.Decode(&m); err != nil {
		return fail("no answer to the authentication: %v", err)
	}
	if m.Op != "ok" {
		return fail("refused the controller: %s", m.Err)
	}
	_ = c.SetDeadline(time.Time{})
	return l, nil
}

// attach starts every link's reader (feeding the coordinator's msgs) and
// pinger.
func (s *agentSet) attach(msgs chan<- workerMsg, quit <-chan struct{}) {
	for _, l := range s.links {
		l.attached = true
		go l.read(msgs, quit)
		go l.ping()
	}
}

// start starts worker spec.Index on its agent.
func (s *agentSet) start(spec workerSpec) (*workerConn, error) {
	l := s.owner[spec.Index]
	if !l.started {
		l.started = true
		if err := l.send(agentMsg{Op: "run", Procs: l.procs}); err != nil {
			return nil, fmt.Errorf("bench: agent %s: %v", l.addr, err)
		}
	}
	if err := l.send(agentMsg{Op: "ctl", Worker: spec.Index, Ctl: &ctlMsg{Op: opSpec, Spec: &spec}}); err != nil {
		return nil, fmt.Errorf("bench: agent %s: %v", l.addr, err)
	}
	return &workerConn{index: spec.Index, remote: l, exit: l.exits[spec.Index-l.first]}, nil
}

// send writes one line, bounded by the timeout (a silent agent must not
// block the coordinator).
func (l *agentLink) send(m agentMsg) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	_ = l.conn.SetWriteDeadline(time.Now().Add(l.timeout))
	return l.enc.Encode(m)
}

// ping keeps the agent's read deadline fed.
func (l *agentLink) ping() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if l.send(agentMsg{Op: "ping"}) != nil {
				return
			}
		case <-l.stop:
			return
		}
	}
}

// read relays the agent's worker lines until the connection ends; if it
// ends before its workers did, they are reported closed with the reason.
func (l *agentLink) read(msgs chan<- workerMsg, quit <-chan struct{}) {
	defer close(l.done)
	deliver := func(m workerMsg) bool {
		select {
		case msgs <- m:
			return true
		case <-quit:
			return false
		}
	}
	for {
		_ = l.conn.SetReadDeadline(time.Now().Add(l.timeout))
		var m agentMsg
		err := l.dec.Decode(&m)
		if err == nil && m.Op == "w" && m.Msg != nil {
			k := m.Msg.Worker - l.first
			if k < 0 || k >= l.procs || l.gone[k] {
				continue
			}
			if m.Msg.Op == opClosed {
				l.gone[k] = true
				close(l.exits[k])
			}
			if !deliver(*m.Msg) {
				return
			}
			continue
		}
		if err == nil {
			continue // ping
		}
		why := err.Error()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			why = "silent for " + l.timeout.String()
		}
		why = fmt.Sprintf("agent %s (%s) lost: %s", l.addr, l.hello.Name, why)
		if !l.bye.Load() {
			l.lostWhy.Store(&why)
		}
		for k := range l.procs {
			if l.gone[k] {
				continue
			}
			l.gone[k] = true
			close(l.exits[k])
			if !l.bye.Load() && !deliver(workerMsg{Op: opClosed, Worker: l.first + k, Err: &FailError{Reason: ReasonOther, Msg: "bench: " + why}}) {
				return
			}
		}
		return
	}
}

// close says goodbye to every agent and closes the connections.
func (s *agentSet) close() {
	if s == nil {
		return
	}
	for _, l := range s.links {
		if l == nil {
			continue
		}
		l.bye.Store(true)
		_ = l.send(agentMsg{Op: "bye"})
		select {
		case <-l.stop:
		default:
			close(l.stop)
		}
		l.conn.Close()
		if l.attached {
			<-l.done // the connection is closed: the reader ends at once
		}
	}
}

// AgentCounts is one agent's part of a run.
type AgentCounts struct {
	Agent     string `json:"agent"` // as given to --agents
	Name      string `json:"name"`  // its own name (hostname)
	Workers   int    `json:"workers"`
	Users     int    `json:"users"`
	Connected int    `json:"connected"`
	Failed    int    `json:"failed"`
	Sent      int64  `json:"sent"`
	Received  int64  `json:"received"`
	// Error is why it was lost; its counts are then its last progress
	// line's (connections) and nothing of its messages.
	Error string `json:"error,omitempty"`
}

// counts is the agents' part of the report.
func (s *agentSet) counts(co *coordinator) []AgentCounts {
	var out []AgentCounts
	for _, l := range s.links {
		a := AgentCounts{Agent: l.addr, Name: l.hello.Name, Workers: l.procs}
		if why := l.lostWhy.Load(); why != nil {
			a.Error = *why
		}
		for k := l.first; k < l.first+l.procs; k++ {
			a.Users += co.cfg.shareOf(k)
			if r := co.results[k]; r != nil {
				a.Connected += r.Connected
				a.Failed += r.Failed
				a.Sent += r.Sent
				a.Received += r.Received
			} else if p := co.latest[k]; p != nil {
				a.Connected += p.Connected
				a.Failed += p.Failed
			}
		}
		out = append(out, a)
	}
	return out
}

// lost lists the agents lost, with why.
func (s *agentSet) lost() []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, l := range s.links {
		if why := l.lostWhy.Load(); why != nil {
			out = append(out, *why)
		}
	}
	return out
}
