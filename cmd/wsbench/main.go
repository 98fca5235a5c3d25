// Command wsbench is the bundled WebSocket load client: connect, echo,
// broadcast and chat scenarios against any server with /echo and /chat,
// two memory attacks (attack-inbound, attack-outbound) against a loopback
// one, and load plans with stages, over many machines (run, agent).
//
//	wsbench echo --url ws://127.0.0.1:8080 -c 200 --duration 5s --server-pid 1234
//	wsbench run plan.yaml --agents h1:7070,h2:7070 --token-file token --threshold 'p99<50ms'
//
// It is wiring only: flags become a bench.Config, bench.Run does the work.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"edgews/bench"
	"golang.org/x/sys/unix"
)

func main() {
	if bench.IsWorker() {
		os.Exit(bench.WorkerMain())
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs := flag.NewFlagSet("wsbench", flag.ContinueOnError)
		bindFlags(fs, &bench.Config{}, &cliOpts{})
		usage(fs)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			return 0
		}
		return 2
	}
	switch args[0] {
	case "help":
		fs := flag.NewFlagSet("wsbench", flag.ContinueOnError)
		bindFlags(fs, &bench.Config{}, &cliOpts{})
		usage(fs)
		return 0
	case "compare":
		return runCompare(args[1:])
	case "scale":
		return runScale(args[1:])
	case "cluster":
		return runCluster(args[1:])
	case "run":
		return runPlan(args[1:])
	case "agent":
		return runAgent(args[1:])
	}
	return runScenario(bench.Config{Scenario: bench.Scenario(args[0])}, args[1:], "")
}

// cliOpts are the command line's settings that are not the run's.
type cliOpts struct {
	pids       pidList
	urls       urlList
	sources    urlList
	agents     urlList
	thresholds listFlag
	jsonOut    bool
	quiet      bool
	htmlFile   string
	tokenFile  string
}

// bindFlags defines the scenario flags on fs, each defaulting to cfg's
// value (a plan's) or, where that is zero, to bench's default.
func bindFlags(fs *flag.FlagSet, cfg *bench.Config, o *cliOpts) {
	o.urls = urlList{list: cfg.URLs}
	if cfg.URL != "" && len(cfg.URLs) == 0 {
		o.urls.list = []string{cfg.URL}
	}
	o.sources = urlList{list: cfg.SourceAddrs}
	o.agents = urlList{list: cfg.Agents}
	o.pids = cfg.ServerPIDs
	fs.Var(&o.urls, "url", "server `URL` (default ws://127.0.0.1:8080; wss:// for TLS 1.3; path optional: /echo for connect and echo, /chat for broadcast and chat); repeat or comma-separate for the nodes of a cluster: connections are dealt round robin")
	fs.StringVar(&cfg.CA, "ca", cfg.CA, "wss: PEM `FILE` of the CAs that sign the servers' certificates (default: the system's)")
	fs.BoolVar(&cfg.Insecure, "insecure", cfg.Insecure, "wss: do not verify the servers' certificates")
	fs.IntVar(&cfg.TLSWorkers, "tls-workers", cfg.TLSWorkers, fmt.Sprintf("wss: TLS handshakes in progress at once per process (0 = %d per CPU core)", bench.DefaultTLSWorkers))
	fs.BoolVar(&cfg.Islands, "islands", cfg.Islands, "with several --url: they are separate servers, a broadcast is expected only on its sender's URL (default: one cluster, expected everywhere)")
	fs.IntVar(&cfg.Conns, "c", cfg.Conns, "connections (users); 0 = per scenario: connect 1000, echo 100, broadcast 1000, chat 1000")
	fs.IntVar(&cfg.Conns, "conns", cfg.Conns, "same as -c")
	fs.Float64Var(&cfg.RampRate, "ramp", or(cfg.RampRate, bench.DefaultRampRate), "connections opened per second")
	fs.DurationVar(&cfg.Duration, "duration", or(cfg.Duration, bench.DefaultDuration), "send phase (echo, broadcast, chat); hold time (connect)")
	fs.DurationVar(&cfg.Duration, "hold", or(cfg.Duration, bench.DefaultDuration), "connect: same as --duration")
	fs.IntVar(&cfg.Payload, "payload", or(cfg.Payload, bench.DefaultPayload), fmt.Sprintf("message size in bytes (echo >= %d, broadcast/chat >= %d)", bench.MinEchoPayload, bench.MinChatPayload))
	fs.BoolVar(&cfg.Compression, "compression", cfg.Compression, "offer permessage-deflate (as Chromium does), inflate what is received, fill payloads with chat-like JSON; reports wire bytes per message")
	fs.IntVar(&cfg.InFlight, "inflight", or(cfg.InFlight, 1), "echo, closed loop: messages in flight per connection")
	fs.IntVar(&cfg.Senders, "senders", or(cfg.Senders, bench.DefaultSenders), "broadcast: users that send")
	fs.Float64Var(&cfg.Rate, "rate", or(cfg.Rate, bench.DefaultRate), "broadcast: messages per second, all senders together; echo: the same over all connections, open loop (default for echo: closed loop)")
	fs.Float64Var(&cfg.ConnRate, "conn-rate", cfg.ConnRate, "echo: messages per second per connection, open loop (instead of --rate)")
	fs.Float64Var(&cfg.TalkFrac, "talk-frac", or(cfg.TalkFrac, bench.DefaultTalkFrac), "chat: fraction of users that talk")
	fs.Float64Var(&cfg.TalkRate, "talk-rate", or(cfg.TalkRate, bench.DefaultTalkRate), "chat: messages per second per talker (Poisson)")
	fs.Float64Var(&cfg.WhisperFrac, "whisper-frac", cfg.WhisperFrac, "chat: fraction of messages sent as /whisper to another user (0 = off)")
	fs.DurationVar(&cfg.Drain, "drain", or(cfg.Drain, bench.DefaultDrain), "keep receiving this long after sending stops")
	fs.IntVar(&cfg.Procs, "procs", or(cfg.Procs, 1), "worker `processes` splitting the connections (one process holds at most ulimit -Hn of them)")
	fs.IntVar(&cfg.Loops, "loops", cfg.Loops, "event loops per process (0 = NumCPU)")
	fs.IntVar(&cfg.Dialers, "dialers", or(cfg.Dialers, bench.DefaultDialers), "dialing goroutines per process")
	fs.DurationVar(&cfg.DialTimeout, "dial-timeout", or(cfg.DialTimeout, bench.DefaultDialTimeout), "TCP connect timeout")
	fs.DurationVar(&cfg.HandshakeTimeout, "handshake-timeout", or(cfg.HandshakeTimeout, bench.DefaultHandshakeTimeout), "upgrade response timeout")
	fs.DurationVar(&cfg.PingPeriod, "ping-period", or(cfg.PingPeriod, bench.DefaultPingPeriod), "client ping period (negative = off)")
	fs.IntVar(&cfg.PerSource, "per-source", cfg.PerSource, "connections per source address before spreading over 127.0.0.2, ... (0 = half the ephemeral port range)")
	fs.IntVar(&cfg.MaxFailures, "max-failures", cfg.MaxFailures, "stop after this many failed connections (0 = none for echo/broadcast/chat, 1% for connect, no limit for staged runs; -1 = no limit)")
	fs.IntVar(&cfg.Healthy, "healthy", or(cfg.Healthy, bench.DefaultHealthy), "attack-*: healthy clients beside the attack (echoing, or reading every line)")
	fs.IntVar(&cfg.FrameSize, "frame-size", or(cfg.FrameSize, bench.DefaultAttackFrame), "attack-inbound: payload bytes each attacker's frame header announces")
	fs.Float64Var(&cfg.SendFrac, "send-frac", or(cfg.SendFrac, bench.DefaultSendFrac), "attack-inbound: part of the frame's body sent before stalling (the last byte never is)")
	fs.DurationVar(&cfg.Trickle, "trickle", cfg.Trickle, "attack-inbound: after stalling, send one more byte every `DURATION` (0 = stall)")
	fs.IntVar(&cfg.Lines, "lines", or(cfg.Lines, bench.DefaultAttackLines), "attack-outbound: lines the sender sends (--payload bytes each, default 3900, at --rate per second, default 1000)")
	fs.IntVar(&cfg.HogRcvBuf, "hog-rcvbuf", or(cfg.HogRcvBuf, bench.DefaultHogRcvBuf), "attack-outbound: SO_RCVBUF of the members that never read")
	fs.DurationVar(&cfg.Settle, "settle", or(cfg.Settle, bench.DefaultSettle), "attack-*: wait after the attack before the last server RSS sample")
	fs.Var(&o.pids, "server-pid", "server `PID` to measure (RSS, CPU); repeat or comma-separate for several")
	fs.Var(&o.thresholds, "threshold", "pass/fail `CONDITION` on the report, such as 'p99<50ms', 'loss==0', 'connect_failed<0.1%', 'stage 2: connected>=9900'; repeat for several; any FAIL exits 99 after the report")
	fs.Var(&o.sources, "source-addrs", "bind connections round robin to these local `ADDRS`: IPs, CIDRs (10.0.0.0/28) or ranges (127.0.0.2-127.0.0.9), comma-separated")
	fs.Var(&o.agents, "agents", "run the workers on these wsbench agents (`HOST:PORT,...`, see wsbench agent), splitting the connections across them")
	fs.StringVar(&o.tokenFile, "token-file", "", "with --agents: the agents' shared token, read from `FILE`")
	fs.DurationVar(&cfg.AgentTimeout, "agent-timeout", or(cfg.AgentTimeout, bench.DefaultAgentTimeout), "with --agents: an agent silent this long is lost (the run ends with what the others measured)")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", cfg.MetricsAddr, "serve the run's live counters and latency histograms for Prometheus on http://`ADDR`/metrics")
	fs.StringVar(&cfg.Out, "out", cfg.Out, "append one JSON snapshot per --out-interval to `FILE` (JSON lines; constant memory however long the run)")
	fs.DurationVar(&cfg.OutInterval, "out-interval", or(cfg.OutInterval, time.Second), "interval of the --out snapshots")
	fs.BoolVar(&o.jsonOut, "json", false, "print the merged report as JSON (schema: bench.Report) instead of the table")
	fs.StringVar(&o.htmlFile, "html", "", "also write a self-contained HTML report with charts to `FILE`")
	fs.BoolVar(&o.quiet, "q", false, "no live progress line")
	fs.Usage = func() { usage(fs) }
}

// or is v, or d if v is zero: a flag's default is the plan's value if it
// has one.
func or[T comparable](v, d T) T {
	var zero T
	if v != zero {
		return v
	}
	return d
}

// runPlan is "wsbench run PLAN [flags]": the plan's run, each flag given
// overriding the plan's key (thresholds add to the plan's).
func runPlan(args []string) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(os.Stderr, "usage: wsbench run PLAN.yaml [flags]  (a plan's keys are the flags' names, see bench/README.md)")
		return 2
	}
	plan, err := bench.ReadPlan(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsbench:", strings.TrimPrefix(err.Error(), "bench: "))
		return 2
	}
	cfg, err := plan.Config()
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsbench:", strings.TrimPrefix(err.Error(), "bench: "))
		return 2
	}
	return runScenario(cfg, args[1:], plan.TokenFile)
}

// runScenario parses the flags over cfg (a scenario's zero Config, or a
// plan's) and runs it. Exit codes: 0 done, 1 the run failed, 2 bad
// usage, 99 a threshold failed (after the report is written).
func runScenario(cfg bench.Config, args []string, tokenFile string) int {
	fs := flag.NewFlagSet("wsbench", flag.ContinueOnError)
	planned := cfg // what the plan set, before the flags' defaults
	var o cliOpts
	bindFlags(fs, &cfg, &o)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "wsbench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg.ServerPIDs = o.pids
	cfg.URLs, cfg.URL = o.urls.list, ""
	if len(cfg.URLs) == 0 {
		cfg.URL = "ws://127.0.0.1:8080"
	}
	cfg.Thresholds = append(cfg.Thresholds, o.thresholds...)
	cfg.Agents = o.agents.list
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfg.Scenario == bench.Echo && !set["rate"] {
		cfg.Rate = planned.Rate // closed loop, unless --conn-rate (or the plan's rate)
	}
	if cfg.Scenario == bench.AttackInbound || cfg.Scenario == bench.AttackOutbound {
		// The attacks have their own defaults for these (see bench.Config):
		// only what the user (or the plan) set overrides them.
		if !set["payload"] {
			cfg.Payload = planned.Payload
		}
		if !set["rate"] {
			cfg.Rate = planned.Rate
		}
		if !set["duration"] && !set["hold"] {
			cfg.Duration = planned.Duration
		}
	}
	if cfg.Scenario == bench.Mixed {
		// The stages set the connections and their pace, the mix the
		// payload; the flags' defaults must not pretend otherwise.
		for _, name := range []string{"c", "conns", "ramp", "duration", "hold"} {
			if set[name] {
				fmt.Fprintf(os.Stderr, "wsbench: --%s: a staged run's stages set the connections and their pace\n", name)
				return 2
			}
		}
		cfg.Conns, cfg.RampRate, cfg.Duration = 0, 0, 0
		if !set["payload"] {
			cfg.Payload = planned.Payload
		}
	}
	if len(o.sources.list) > 0 {
		addrs, err := bench.ParseSourceAddrs(o.sources.list)
		if err != nil {
			fmt.Fprintln(os.Stderr, "wsbench:", strings.TrimPrefix(err.Error(), "bench: "))
			return 2
		}
		cfg.SourceAddrs = addrs
	}
	if set["token-file"] {
		tokenFile = o.tokenFile
	}
	if tokenFile != "" {
		tok, err := readToken(tokenFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "wsbench:", err)
			return 2
		}
		cfg.Token = tok
	}
	if !o.quiet && isTerminal(os.Stderr) {
		cfg.Progress = os.Stderr
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Run(ctx, cfg)
	if rep != nil {
		if o.jsonOut {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(rep)
		} else if err == nil || rep.Conns.Connected+rep.Conns.Failed > 0 {
			_ = rep.WriteText(os.Stdout)
		}
		if o.htmlFile != "" {
			if herr := writeHTML(rep, o.htmlFile); herr != nil {
				fmt.Fprintln(os.Stderr, "wsbench:", herr)
				return 1
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsbench:", strings.TrimPrefix(err.Error(), "bench: "))
		return 1
	}
	if rep.ThresholdsFailed() {
		for _, t := range rep.Thresholds {
			if !t.Pass {
				fmt.Fprintf(os.Stderr, "wsbench: threshold FAILED: %s (%s = %s)\n", t.Threshold, t.Metric, t.Shown)
			}
		}
		return exitThresholds
	}
	return 0
}

// exitThresholds is the exit code of a run whose thresholds failed (k6's).
const exitThresholds = 99

// readToken reads a shared token from a file: its content, trimmed; it
// must not be empty.
func readToken(name string) ([]byte, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, fmt.Errorf("token file %s is empty", name)
	}
	return b, nil
}

func writeHTML(rep *bench.Report, name string) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := rep.WriteHTML(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func usage(fs *flag.FlagSet) {
	out := fs.Output()
	fmt.Fprint(out, `usage: wsbench SCENARIO [flags]

Scenarios (each stops by itself):
  connect    open -c connections at --ramp per second, hold them --duration:
             connect-time percentiles, failures by reason, server RSS per
             connection and CPU (--server-pid), kernel TCP memory
  echo       -c connections on /echo for --duration: messages/s, MB/s,
             round trip. With --rate R (or --conn-rate r) open loop: each
             connection sends on its own timetable whatever the replies do,
             round trips counted from the scheduled send times, so a server
             stall shows whole (use this for latency figures). Without,
             closed loop: --inflight messages of --payload bytes in flight
             on each (the most messages/s), raw round trips beside the ones
             corrected for coordinated omission
  broadcast  -c users on /chat, --senders of them send --rate messages/s in
             total for --duration: deliveries/s, each message tracked by
             sender and sequence number (lost, duplicated, extra), delivery
             latency from each message's scheduled time
  chat       -c users on /chat, --talk-frac talking at --talk-rate each,
             --whisper-frac of messages whispered: deliveries/s, latency

  attack-inbound
             -c attackers (default 400) on /echo each send the header of a
             --frame-size frame and --send-frac of it, then stall (or
             --trickle) for --duration while --healthy clients echo: which
             attackers the server closes, with which code (1013 budget,
             1008 message timeout, 1009 too big) and when, the healthy
             round trips, server RSS before/peak/after --settle
             (--server-pid). Loopback servers only.
  attack-outbound
             -c hogs (default 300) on /chat that never read (--hog-rcvbuf)
             while one sender sends --lines lines of --payload bytes at
             --rate and --healthy members read: the hogs' fates, the
             healthy members' loss, server RSS before/peak/after --settle.
             Loopback servers only.

  run PLAN   a load plan (YAML or JSON; its keys are these flags' names,
             plus mix, stages and per-stage thresholds): a staged run
             opens and closes connections to follow its stages, with idle,
             echo and chat users mixed; flags after PLAN override it
  agent      serve controllers (wsbench run --agents HOST:PORT,...) from
             this machine: --listen :7070 [--token-file F] [--source-addrs]

  compare    run the node and its peers (gorilla, gws, nbio; uws if built)
             through echo, broadcast and connect in one run; a markdown
             table with ratios (wsbench compare --help)
  scale      ramp to --conns idle connections over several node processes
             and workers, then probe echo latency (wsbench scale --help)
  cluster    one node against NATS plus --nodes nodes: the same broadcast,
             heavy and light, and idle memory with --nats off and on; a
             markdown table with cluster/single ratios (wsbench cluster --help)

The final report is a table on stdout, or JSON with --json; --html FILE adds
a self-contained page with charts. --threshold judges it (exit 99 on a FAIL);
--metrics-addr and --out give a live view of long runs. A live line is shown on stderr when it is
a terminal. One process may hold only RLIMIT_NOFILE connections (ulimit -Hn):
use --procs to split larger runs over worker processes.

Flags:
`)
	fs.PrintDefaults()
}

// pidList is a repeatable, comma-separated --server-pid.
type pidList []int

func (p *pidList) String() string {
	s := make([]string, len(*p))
	for i, v := range *p {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

func (p *pidList) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return fmt.Errorf("bad pid %q", f)
		}
		*p = append(*p, n)
	}
	return nil
}

// urlList is a repeatable, comma-separated list flag (--url,
// --source-addrs, --agents): its first Set replaces the default (a plan's
// list), later ones add.
type urlList struct {
	list []string
	set  bool
}

func (u *urlList) String() string { return strings.Join(u.list, ",") }

func (u *urlList) Set(v string) error {
	if !u.set {
		u.list, u.set = nil, true
	}
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			u.list = append(u.list, f)
		}
	}
	return nil
}

// listFlag is a repeatable flag, one value per use (--threshold: a
// condition may hold a comma).
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, " ") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// isTerminal reports whether f is a terminal (the live line would only
// clutter a file or a pipe).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
