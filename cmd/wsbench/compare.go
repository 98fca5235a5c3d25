package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"edgews/bench/compare"
)

// runCompare is "wsbench compare": flags → compare.Config → compare.Run.
func runCompare(args []string) int {
	fs := flag.NewFlagSet("wsbench compare", flag.ContinueOnError)
	var cfg compare.Config
	var servers, scenarios string
	fs.StringVar(&cfg.Bin, "bin", "bin", "`DIR` holding wsnode, wsbench, gorilla, gws and nbio (and uws: bench/uws/build.sh)")
	fs.StringVar(&servers, "servers", strings.Join(compare.Servers, ","), "servers to run, the node first, comma-separated; an entry may carry flags for its server (\"wsnode --loops 1,wsnode,uws\")")
	fs.IntVar(&cfg.Repeat, "repeat", 1, "run each scenario this many times, the servers in turn; the table gives medians")
	fs.StringVar(&scenarios, "scenarios", "echo,echo-open,broadcast,connect,connect-chat,echo-deflate,broadcast-deflate",
		"scenarios to run (echo: closed loop, messages/s; echo-open: open loop at --echo-rate, the latency figure; connect: idle /echo connections; connect-chat: idle /chat users; *-deflate: with permessage-deflate on both sides)")
	fs.IntVar(&cfg.EchoConns, "echo-conns", 1000, "echo: connections")
	fs.IntVar(&cfg.EchoPayload, "echo-payload", 1024, "echo: payload bytes")
	fs.IntVar(&cfg.EchoInflight, "echo-inflight", 1, "echo: messages in flight per connection (closed loop)")
	fs.Float64Var(&cfg.EchoRate, "echo-rate", 5000, "echo-open: messages per second over all connections (well under the servers' capacity: a saturated server measures its queue, not its latency)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "echo and broadcast send phase")
	fs.IntVar(&cfg.BroadcastConns, "broadcast-conns", 10000, "broadcast: users")
	fs.IntVar(&cfg.BroadcastSenders, "broadcast-senders", 20, "broadcast: senders")
	fs.Float64Var(&cfg.BroadcastRate, "broadcast-rate", 40, "broadcast: messages per second, all senders together")
	fs.IntVar(&cfg.DeflateConns, "deflate-conns", 2000, "broadcast-deflate: users")
	fs.IntVar(&cfg.DeflatePayload, "deflate-payload", 1024, "echo-deflate, broadcast-deflate: payload bytes (chat-like JSON)")
	fs.IntVar(&cfg.ConnectConns, "connect-conns", 50000, "connect, connect-chat: idle connections")
	fs.IntVar(&cfg.ConnectProcs, "connect-procs", 0, "connect, connect-chat: server processes and bench workers (0 = one per 18,000)")
	fs.DurationVar(&cfg.ConnectHold, "connect-hold", 5*time.Second, "connect, connect-chat: hold time")
	fs.Float64Var(&cfg.Ramp, "ramp", 5000, "connections opened per second")
	fs.StringVar(&cfg.Reports, "reports", "", "also save each raw JSON report in `DIR`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg.Servers = strings.Split(servers, ",")
	cfg.Scenarios = strings.Split(scenarios, ",")
	cfg.Log = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	started := time.Now()
	results := compare.Run(ctx, cfg)
	fmt.Printf("wsbench compare, %s, %d CPUs, %s\n\n", started.UTC().Format(time.RFC3339), runtime.NumCPU(), time.Since(started).Round(time.Second))
	compare.Markdown(os.Stdout, results)
	for _, r := range results {
		if r.Err != nil {
			return 1
		}
	}
	return 0
}

// runScale is "wsbench scale": flags → compare.ScaleConfig → compare.Scale.
func runScale(args []string) int {
	fs := flag.NewFlagSet("wsbench scale", flag.ContinueOnError)
	var cfg compare.ScaleConfig
	fs.StringVar(&cfg.Bin, "bin", "bin", "`DIR` holding wsnode and wsbench")
	fs.IntVar(&cfg.Conns, "conns", 100000, "idle connections")
	fs.StringVar(&cfg.Path, "path", "/echo", "route the idle connections open: /echo, or /chat (each a chat member)")
	fs.IntVar(&cfg.PerProc, "per-proc", 18000, "connections per node process and per bench worker (the descriptor limit here is 20,000)")
	fs.Float64Var(&cfg.Ramp, "ramp", 5000, "connections opened per second")
	fs.IntVar(&cfg.Echo, "echo-conns", 100, "echo latency probe: connections")
	fs.DurationVar(&cfg.EchoFor, "echo-duration", 10*time.Second, "echo latency probe: duration")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "wss: the nodes' certificate `FILE` (PEM; with --tls-key)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "wss: the nodes' key `FILE`")
	fs.StringVar(&cfg.CA, "ca", "", "wss: the CA `FILE` the bench trusts (default: the system's roots)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg.Log = os.Stderr
	_, ok := drive("scale", func(ctx context.Context) (*compare.ScaleResult, error) { return compare.Scale(ctx, cfg) }, compare.MarkdownScale)
	if !ok {
		return 1
	}
	return 0
}

// drive runs a driver until it ends or SIGINT/SIGTERM, then prints its
// header line and its markdown; false when it failed.
func drive[R any](name string, run func(context.Context) (R, error), markdown func(io.Writer, R)) (R, bool) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	started := time.Now()
	res, err := run(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "wsbench %s: %v\n", name, err)
		return res, false
	}
	fmt.Printf("wsbench %s, %s, %d CPUs, %s\n\n", name, started.UTC().Format(time.RFC3339), runtime.NumCPU(), time.Since(started).Round(time.Second))
	markdown(os.Stdout, res)
	return res, true
}

// runCluster is "wsbench cluster": flags → compare.ClusterConfig → compare.Cluster.
func runCluster(args []string) int {
	fs := flag.NewFlagSet("wsbench cluster", flag.ContinueOnError)
	var cfg compare.ClusterConfig
	fs.StringVar(&cfg.Bin, "bin", "bin", "`DIR` holding wsnode, wsbench and nats-server (make bench-cluster builds it from the pinned module)")
	fs.IntVar(&cfg.Nodes, "nodes", 3, "node processes of the cluster")
	fs.IntVar(&cfg.Conns, "conns", 6000, "broadcast: users in the one room")
	fs.IntVar(&cfg.Senders, "senders", 20, "broadcast: senders")
	fs.Float64Var(&cfg.Rate, "rate", 10, "broadcast: messages per second, all senders together")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "send phase of each broadcast run")
	fs.DurationVar(&cfg.Drain, "drain", 5*time.Second, "keep receiving this long after sending stops (later deliveries count as lost)")
	fs.StringVar(&cfg.Reports, "reports", "", "also save each raw JSON report in `DIR`")
	fs.IntVar(&cfg.LightConns, "light-conns", 300, "light load (latency): users")
	fs.IntVar(&cfg.LightSenders, "light-senders", 10, "light load: senders")
	fs.Float64Var(&cfg.LightRate, "light-rate", 10, "light load: messages per second")
	fs.IntVar(&cfg.IdleLo, "idle-lo", 4000, "idle memory: the smaller size, /chat users on a fresh node (-1 = skip it, no slope)")
	fs.IntVar(&cfg.IdleConns, "idle-conns", 14000, "idle memory: the larger size; --nats off then on, each on a fresh node")
	fs.DurationVar(&cfg.IdleHold, "idle-hold", 3*time.Second, "idle memory: hold time")
	fs.IntVar(&cfg.IdleRepeat, "idle-repeat", 3, "idle memory: runs of each of the four kinds, in turn (the table gives medians)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg.Log = os.Stderr
	res, ok := drive("cluster", func(ctx context.Context) (*compare.ClusterResult, error) { return compare.Cluster(ctx, cfg) }, compare.MarkdownCluster)
	if !ok || len(res.Errs) > 0 {
		return 1
	}
	return 0
}
