package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"edgews/bench"
)

// runAgent is "wsbench agent": serve controllers (wsbench run --agents)
// until SIGINT/SIGTERM.
func runAgent(args []string) int {
	fs := flag.NewFlagSet("wsbench agent", flag.ContinueOnError)
	var cfg bench.AgentConfig
	var listen, tokenFile string
	var sources urlList
	fs.StringVar(&listen, "listen", ":7070", "`ADDR` to wait for controllers on")
	fs.StringVar(&tokenFile, "token-file", "", "require controllers to prove they know the token in `FILE` (without it, any controller that reaches the port can drive this agent)")
	fs.StringVar(&cfg.Name, "name", "", "the agent's name in reports (default: the hostname)")
	fs.IntVar(&cfg.Procs, "procs", 0, "worker processes per run (0 = as many as the descriptor limit needs)")
	fs.Var(&sources, "source-addrs", "this machine's `ADDRS` to bind connections to, round robin: IPs, CIDRs or FIRST-LAST ranges, comma-separated")
	fs.DurationVar(&cfg.Timeout, "timeout", bench.DefaultAgentTimeout, "a controller silent this long is gone: its run's workers stop")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "wsbench agent: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if tokenFile != "" {
		tok, err := readToken(tokenFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "wsbench agent:", err)
			return 2
		}
		cfg.Token = tok
	}
	if len(sources.list) > 0 {
		addrs, err := bench.ParseSourceAddrs(sources.list)
		if err != nil {
			fmt.Fprintln(os.Stderr, "wsbench agent:", strings.TrimPrefix(err.Error(), "bench: "))
			return 2
		}
		cfg.SourceAddrs = addrs
	}
	cfg.Logf = func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "%s wsbench agent: %s\n", time.Now().Format(time.TimeOnly), strings.TrimPrefix(fmt.Sprintf(format, a...), "agent: "))
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsbench agent:", err)
		return 1
	}
	auth := "controllers must prove the token"
	if cfg.Token == nil {
		auth = "NO TOKEN: any controller that reaches this port can drive it (--token-file)"
	}
	// The first line names the address (a port 0 resolved): scripts wait for it.
	fmt.Fprintf(os.Stderr, "wsbench agent listening on %s; %s\n", ln.Addr(), auth)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := bench.ServeAgent(ctx, ln, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "wsbench agent:", strings.TrimPrefix(err.Error(), "bench: "))
		return 1
	}
	return 0
}
