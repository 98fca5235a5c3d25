// Command wsbench is the bundled WebSocket load client: connect, echo,
// broadcast and chat scenarios against any server with /echo and /chat,
// and two memory attacks (attack-inbound, attack-outbound) against a
// loopback one.
//
//	wsbench echo --url ws://127.0.0.1:8080 -c 200 --duration 5s --server-pid 1234
//
// It is wiring only: flags become a bench.Config, bench.Run does the work.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

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
	fs := flag.NewFlagSet("wsbench", flag.ContinueOnError)
	var cfg bench.Config
	var pids pidList
	var jsonOut, quiet bool
	var htmlFile string
	var urls urlList
	fs.Var(&urls, "url", "server `URL` (default ws://127.0.0.1:8080; path optional: /echo for connect and echo, /chat for broadcast and chat); repeat or comma-separate for the nodes of a cluster: connections are dealt round robin")
	fs.BoolVar(&cfg.Islands, "islands", false, "with several --url: they are separate servers, a broadcast is expected only on its sender's URL (default: one cluster, expected everywhere)")
	fs.IntVar(&cfg.Conns, "c", 0, "connections (users); 0 = per scenario: connect 1000, echo 100, broadcast 1000, chat 1000")
	fs.IntVar(&cfg.Conns, "conns", 0, "same as -c")
	fs.Float64Var(&cfg.RampRate, "ramp", bench.DefaultRampRate, "connections opened per second")
	fs.DurationVar(&cfg.Duration, "duration", bench.DefaultDuration, "send phase (echo, broadcast, chat); hold time (connect)")
	fs.DurationVar(&cfg.Duration, "hold", bench.DefaultDuration, "connect: same as --duration")
	fs.IntVar(&cfg.Payload, "payload", bench.DefaultPayload, fmt.Sprintf("message size in bytes (echo >= %d, broadcast/chat >= %d)", bench.MinEchoPayload, bench.MinChatPayload))
	fs.BoolVar(&cfg.Compression, "compression", false, "offer permessage-deflate (as Chromium does), inflate what is received, fill payloads with chat-like JSON; reports wire bytes per message")
	fs.IntVar(&cfg.InFlight, "inflight", 1, "echo, closed loop: messages in flight per connection")
	fs.IntVar(&cfg.Senders, "senders", bench.DefaultSenders, "broadcast: users that send")
	fs.Float64Var(&cfg.Rate, "rate", bench.DefaultRate, "broadcast: messages per second, all senders together; echo: the same over all connections, open loop (default for echo: closed loop)")
	fs.Float64Var(&cfg.ConnRate, "conn-rate", 0, "echo: messages per second per connection, open loop (instead of --rate)")
	fs.Float64Var(&cfg.TalkFrac, "talk-frac", bench.DefaultTalkFrac, "chat: fraction of users that talk")
	fs.Float64Var(&cfg.TalkRate, "talk-rate", bench.DefaultTalkRate, "chat: messages per second per talker (Poisson)")
	fs.Float64Var(&cfg.WhisperFrac, "whisper-frac", 0, "chat: fraction of messages sent as /whisper to another user (0 = off)")
	fs.DurationVar(&cfg.Drain, "drain", bench.DefaultDrain, "keep receiving this long after sending stops")
	fs.IntVar(&cfg.Procs, "procs", 1, "worker `processes` splitting the connections (one process holds at most ulimit -Hn of them)")
	fs.IntVar(&cfg.Loops, "loops", 0, "event loops per process (0 = NumCPU)")
	fs.IntVar(&cfg.Dialers, "dialers", bench.DefaultDialers, "dialing goroutines per process")
	fs.DurationVar(&cfg.DialTimeout, "dial-timeout", bench.DefaultDialTimeout, "TCP connect timeout")
	fs.DurationVar(&cfg.HandshakeTimeout, "handshake-timeout", bench.DefaultHandshakeTimeout, "upgrade response timeout")
	fs.DurationVar(&cfg.PingPeriod, "ping-period", bench.DefaultPingPeriod, "client ping period (negative = off)")
	fs.IntVar(&cfg.PerSource, "per-source", 0, "connections per source address before spreading over 127.0.0.2, ... (0 = half the ephemeral port range)")
	fs.IntVar(&cfg.MaxFailures, "max-failures", 0, "stop after this many failed connections (0 = none for echo/broadcast/chat, 1% for connect; -1 = no limit)")
	fs.IntVar(&cfg.Healthy, "healthy", bench.DefaultHealthy, "attack-*: healthy clients beside the attack (echoing, or reading every line)")
	fs.IntVar(&cfg.FrameSize, "frame-size", bench.DefaultAttackFrame, "attack-inbound: payload bytes each attacker's frame header announces")
	fs.Float64Var(&cfg.SendFrac, "send-frac", bench.DefaultSendFrac, "attack-inbound: part of the frame's body sent before stalling (the last byte never is)")
	fs.DurationVar(&cfg.Trickle, "trickle", 0, "attack-inbound: after stalling, send one more byte every `DURATION` (0 = stall)")
	fs.IntVar(&cfg.Lines, "lines", bench.DefaultAttackLines, "attack-outbound: lines the sender sends (--payload bytes each, default 3900, at --rate per second, default 1000)")
	fs.IntVar(&cfg.HogRcvBuf, "hog-rcvbuf", bench.DefaultHogRcvBuf, "attack-outbound: SO_RCVBUF of the members that never read")
	fs.DurationVar(&cfg.Settle, "settle", bench.DefaultSettle, "attack-*: wait after the attack before the last server RSS sample")
	fs.Var(&pids, "server-pid", "server `PID` to measure (RSS, CPU); repeat or comma-separate for several")
	fs.BoolVar(&jsonOut, "json", false, "print the merged report as JSON (schema: bench.Report) instead of the table")
	fs.StringVar(&htmlFile, "html", "", "also write a self-contained HTML report with charts to `FILE`")
	fs.BoolVar(&quiet, "q", false, "no live progress line")
	fs.Usage = func() { usage(fs) }

	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			usage(fs)
			return 0
		}
		usage(fs)
		return 2
	}
	switch args[0] {
	case "help":
		usage(fs)
		return 0
	case "compare":
		return runCompare(args[1:])
	case "scale":
		return runScale(args[1:])
	case "cluster":
		return runCluster(args[1:])
	}
	cfg.Scenario = bench.Scenario(args[0])
	if err := fs.Parse(args[1:]); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "wsbench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg.ServerPIDs = pids
	cfg.URLs = urls
	if len(urls) == 0 {
		cfg.URL = "ws://127.0.0.1:8080"
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfg.Scenario == bench.Echo && !set["rate"] {
		cfg.Rate = 0 // closed loop, unless --conn-rate
	}
	if cfg.Scenario == bench.AttackInbound || cfg.Scenario == bench.AttackOutbound {
		// The attacks have their own defaults for these (see bench.Config):
		// only what the user set overrides them.
		if !set["payload"] {
			cfg.Payload = 0
		}
		if !set["rate"] {
			cfg.Rate = 0
		}
		if !set["duration"] && !set["hold"] {
			cfg.Duration = 0
		}
	}
	if !quiet && isTerminal(os.Stderr) {
		cfg.Progress = os.Stderr
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Run(ctx, cfg)
	if rep != nil {
		if jsonOut {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(rep)
		} else if err == nil || rep.Conns.Connected+rep.Conns.Failed > 0 {
			_ = rep.WriteText(os.Stdout)
		}
		if htmlFile != "" {
			if herr := writeHTML(rep, htmlFile); herr != nil {
				fmt.Fprintln(os.Stderr, "wsbench:", herr)
				return 1
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsbench:", strings.TrimPrefix(err.Error(), "bench: "))
		return 1
	}
	return 0
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

  compare    run the node and its peers (gorilla, gws, nbio; uws if built)
             through echo, broadcast and connect in one run; a markdown
             table with ratios (wsbench compare --help)
  scale      ramp to --conns idle connections over several node processes
             and workers, then probe echo latency (wsbench scale --help)
  cluster    one node against NATS plus --nodes nodes: the same broadcast,
             heavy and light, and idle memory with --nats off and on; a
             markdown table with cluster/single ratios (wsbench cluster --help)

The final report is a table on stdout, or JSON with --json; --html FILE adds
a self-contained page with charts. A live line is shown on stderr when it is
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

// urlList is a repeatable, comma-separated --url.
type urlList []string

func (u *urlList) String() string { return strings.Join(*u, ",") }

func (u *urlList) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			*u = append(*u, f)
		}
	}
	return nil
}

// isTerminal reports whether f is a terminal (the live line would only
// clutter a file or a pipe).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
