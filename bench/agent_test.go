package bench_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"edgews/bench"
	"edgews/engine"
	"edgews/hub"
)

// agentEnv makes the test binary an agent process (TestMain): it serves
// on 127.0.0.1:0, says "agent ADDR" on stdout, and requires the token in
// the variable's value.
const agentEnv = "BENCH_TEST_AGENT_TOKEN"

func agentMain() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("agent %s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err = bench.ServeAgent(ctx, ln, bench.AgentConfig{Name: "test-agent-" + ln.Addr().String(), Token: []byte(os.Getenv(agentEnv)), Timeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startAgent runs an agent process (this test binary) with token until
// the test ends, and returns its address and process.
func startAgent(t *testing.T, token string) (string, *os.Process) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), agentEnv+"="+token)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "agent ")
	if err != nil || !ok {
		t.Fatalf("agent said %q: %v", line, err)
	}
	return addr, cmd.Process
}

// agentPlan is the staged mix the agent tests run: 90 users, 30 per agent.
func agentPlan(url string, agents []string, token string, hold time.Duration) bench.Config {
	return bench.Config{Scenario: bench.Mixed, URL: url, Agents: agents, Token: []byte(token), Drain: 500 * time.Millisecond,
		Mix:    &bench.Mix{Idle: 0.4, Echo: 0.3, Chat: 0.3, EchoRate: 5, ChatRate: 1},
		Stages: []bench.Stage{{Duration: time.Second, Target: 90}, {Duration: hold, Target: 90}}}
}

// Three agents on this machine driven by one controller: the merged
// report is exactly the agents' sums, and the node counted the same.
func TestAgentsMerge(t *testing.T) {
	srv := startServer(t, engine.Config{}, hub.Config{})
	checkLeaks(t)
	var agents []string
	for range 3 {
		addr, _ := startAgent(t, "s3cret")
		agents = append(agents, addr)
	}
	rep := run(t, agentPlan("ws://"+srv.Addr().String(), agents, "s3cret", 1500*time.Millisecond))
	if len(rep.Agents) != 3 || rep.Procs != 3 || len(rep.Workers) != 3 {
		t.Fatalf("agents %+v, procs %d", rep.Agents, rep.Procs)
	}
	var conns, failed int
	var sent, recv int64
	for i, a := range rep.Agents {
		if a.Agent != agents[i] || a.Name != "test-agent-"+agents[i] || a.Users != 30 || a.Connected != 30 || a.Sent == 0 || a.Error != "" {
			t.Errorf("agent %d = %+v, want 30 users connected and sending", i, a)
		}
		conns, failed, sent, recv = conns+a.Connected, failed+a.Failed, sent+a.Sent, recv+a.Received
	}
	m := rep.Messages
	if conns != rep.Conns.Connected || failed != rep.Conns.Failed || sent != m.Sent || recv != m.Received {
		t.Errorf("agents' sums: %d connected %d failed, sent %d, received %d; report %+v %+v", conns, failed, sent, recv, rep.Conns, m)
	}
	if up := srv.Stats().Upgrades; int(up) != rep.Conns.Connected || up != 90 {
		t.Errorf("the node counted %d upgrades, the report %d", up, rep.Conns.Connected)
	}
	// The histograms are merged, not averaged: every sample is there.
	var stageN int64
	for _, s := range rep.Stages {
		stageN += s.Latency.Count
	}
	if rep.Latency.Count != m.Received || stageN != m.Received {
		t.Errorf("latency samples: run %d, stages %d, received %d", rep.Latency.Count, stageN, m.Received)
	}
	// Nothing missing (what came after the drain came late), all 90 there.
	if m.Lost != rep.Mix.LateReceipts || m.Extra != 0 || m.Expected == 0 || rep.Mix.Deliveries == 0 || rep.Stages[1].Connected+rep.Stages[1].Opening != 90 {
		t.Errorf("messages %+v, mix %+v, stage 2 %+v: want nothing missing with all 90 there", m, rep.Mix, rep.Stages[1])
	}
}

// An agent killed mid-run, or frozen: the run ends (within the agent
// timeout), names the agent, and keeps the others' data.
func TestAgentLost(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sig     syscall.Signal
		timeout time.Duration
		why     string
	}{
		{"killed", syscall.SIGKILL, 3 * time.Second, "lost"},
		{"frozen", syscall.SIGSTOP, 1500 * time.Millisecond, "silent for 1.5s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, engine.Config{}, hub.Config{})
			checkLeaks(t)
			var agents []string
			var victim *os.Process
			for i := range 3 {
				addr, p := startAgent(t, "tok")
				agents = append(agents, addr)
				if i == 1 {
					victim = p
				}
			}
			cfg := agentPlan("ws://"+srv.Addr().String(), agents, "tok", 10*time.Second)
			cfg.AgentTimeout = tc.timeout
			var hit atomic.Int64
			go func() {
				time.Sleep(4 * time.Second) // in the hold stage, which it has reported
				hit.Store(time.Now().UnixNano())
				_ = victim.Signal(tc.sig)
			}()
			rep, err := runErr(t, cfg)
			ended := time.Since(time.Unix(0, hit.Load()))
			if hit.Load() == 0 {
				t.Fatalf("the run ended before the agent was hit: %v", err)
			}
			if !errors.Is(err, bench.ErrAgentLost) || !strings.Contains(err.Error(), agents[1]) || !strings.Contains(err.Error(), tc.why) {
				t.Fatalf("err = %v, want ErrAgentLost naming %s (%s)", err, agents[1], tc.why)
			}
			if ended > tc.timeout+5*time.Second {
				t.Errorf("the run ended %v after the agent was lost", ended)
			}
			if rep == nil || len(rep.Agents) != 3 || !strings.Contains(rep.Error, agents[1]) {
				t.Fatalf("report %+v", rep)
			}
			for i, a := range rep.Agents {
				if lost := i == 1; lost != (a.Error != "") || a.Connected != 30 || !lost && a.Sent == 0 {
					t.Errorf("agent %d = %+v", i, a)
				}
			}
			s1, s2 := rep.Stages[0], rep.Stages[1]
			if s1.Partial != "" || s1.Connected+s1.Opening < 88 || s2.Partial == "" || s2.Received == 0 || rep.Messages.Received == 0 {
				t.Errorf("stage 1 %+v\nstage 2 %+v: want the first whole, the second from the agents left", s1, s2)
			}
			if rep.Mix.WindowSec >= 11 {
				t.Errorf("chat loss counted over %v s, want only the seconds every agent reported", rep.Mix.WindowSec)
			}
		})
	}
}

// Agents refuse a controller without their token, or with another; an
// unreachable agent is named; all before any connection to the server.
func TestAgentRefusals(t *testing.T) {
	srv := startServer(t, engine.Config{}, hub.Config{})
	checkLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- bench.ServeAgent(ctx, ln, bench.AgentConfig{Name: "a1", Token: []byte("right")}) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()
	dead := freeAddr(t)
	url := "ws://" + srv.Addr().String()
	for _, tc := range []struct {
		name, token string
		agents      []string
		want        string
	}{
		{"no token", "", []string{ln.Addr().String()}, "agent " + ln.Addr().String() + ": refused the controller: this agent requires a token"},
		{"wrong token", "wrong", []string{ln.Addr().String()}, "refused the controller: wrong token"},
		{"unreachable", "right", []string{ln.Addr().String(), dead}, "agent " + dead + " unreachable"},
	} {
		_, err := runErr(t, agentPlan(url, tc.agents, tc.token, time.Second))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	if st := srv.Stats(); st.Accepted != 0 {
		t.Errorf("%d connections reached the node", st.Accepted)
	}
	// The right token: the agent runs the plan.
	rep := run(t, agentPlan(url, []string{ln.Addr().String()}, "right", 500*time.Millisecond))
	if rep.Conns.Connected != 90 || len(rep.Agents) != 1 || rep.Agents[0].Name != "a1" {
		t.Errorf("conns %+v agents %+v", rep.Conns, rep.Agents)
	}
}
