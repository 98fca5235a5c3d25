package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"edgews/engine"
	"edgews/engine/mempolicy"
	"edgews/hub"
)

// envPrefix names the environment variable of every flag: --max-conns is
// WSNODE_MAX_CONNS. A flag given on the command line wins over the
// environment, which wins over the default.
const envPrefix = "WSNODE_"

// options is everything the command line sets.
type options struct {
	engine         engine.Config
	hub            hub.Config
	memory         mempolicy.Config
	allowedOrigins string
	metricsAddr    string
	pprof          bool
	drainTimeout   time.Duration
	logLevel       string
	logFormat      string
	version        bool
	auth           authFlags
	cluster        clusterFlags
	tls            tlsFlags
	historyShared  bool
	historyWait    time.Duration
	backend        backendFlags
}

// group is a heading of --help and the flags listed under it.
type group struct {
	title string
	flags []string
}

func newFlagSet(o *options, out io.Writer) (*flag.FlagSet, []group) {
	fs := flag.NewFlagSet("wsnode", flag.ContinueOnError)
	fs.SetOutput(out)
	e := &o.engine
	var groups []group
	add := func(title string, names ...string) { groups = append(groups, group{title, names}) }

	fs.StringVar(&e.Addr, "addr", ":8080", "TCP address to listen on")
	fs.IntVar(&e.Loops, "loops", 0, "event loops (0 = one per CPU core)")
	fs.BoolVar(&e.ReusePort, "reuseport", false, "set SO_REUSEPORT so several node processes share --addr")
	fs.IntVar(&e.SocketRecvBuffer, "sock-rcvbuf", 0, "SO_RCVBUF per connection in bytes (0 = kernel default)")
	fs.IntVar(&e.SocketSendBuffer, "sock-sndbuf", 0, "SO_SNDBUF per connection in bytes (0 = kernel default)")
	add("Network", "addr", "loops", "reuseport", "sock-rcvbuf", "sock-sndbuf")

	add("TLS", addTLSFlags(fs, &o.tls, e)...)

	fs.DurationVar(&e.PingPeriod, "ping-period", 0, "how often the node pings each connection (0 = off)")
	fs.DurationVar(&e.Timeout, "timeout", engine.DefaultTimeout, "close a connection silent this long with 1001 (negative = off)")
	fs.DurationVar(&e.CloseTimeout, "close-timeout", engine.DefaultCloseTimeout, "wait this long for the peer's close frame before closing TCP")
	fs.Int64Var(&e.MaxFrameSize, "max-frame-size", 1<<20, "largest frame payload in bytes; larger closes with 1009")
	fs.Int64Var(&e.MaxMessageSize, "max-message-size", 4<<20, "largest (fragmented) message in bytes; larger closes with 1009")
	fs.DurationVar(&e.MessageTimeout, "message-timeout", engine.DefaultMessageTimeout, "close with 1008 a connection whose frame or fragmented message is not complete this long after it began (negative = off)")
	add("WebSocket", "ping-period", "timeout", "close-timeout", "max-frame-size", "max-message-size", "message-timeout")

	add("Compression", addCompressionFlags(fs, e)...)

	fs.IntVar(&e.MaxConns, "max-conns", 0, "open connections cap; beyond it upgrades get 503 (0 = none)")
	fs.IntVar(&e.MaxConnsPerIP, "max-conns-per-ip", 0, "open connections cap per client IP; beyond it 429 (0 = none)")
	fs.StringVar(&o.allowedOrigins, "allowed-origins", "", "comma-separated browser origins allowed to connect, e.g. https://*.example.com (empty = any); others get 403")
	fs.DurationVar(&e.HandshakeTimeout, "handshake-timeout", engine.DefaultHandshakeTimeout, "close a connection that has not upgraded within this")
	fs.IntVar(&e.MaxHeaderBytes, "max-header-bytes", engine.DefaultMaxHeaderBytes, "largest upgrade request head in bytes; larger gets 431")
	fs.IntVar(&e.MaxOutboundBytes, "max-outbound-bytes", engine.DefaultMaxOutboundBytes, "bytes queued for one connection before it is closed as a slow consumer (1008); one frame larger than half of it, sent to a connection with less than half of it unread, raises the bound by its size until read")
	fs.Int64Var(&e.MemoryBudget, "memory-budget", 512<<20, "bytes held for all connections together (partial frames and messages, unsent output); over it the largest holders are closed with 1013 (0 = none)")
	add("Limits", "max-conns", "max-conns-per-ip", "allowed-origins", "handshake-timeout", "max-header-bytes", "max-outbound-bytes", "memory-budget")

	fs.IntVar(&o.hub.Shards, "shards", hub.DefaultShards, "hub name and room registry shards")
	fs.Float64Var(&o.hub.Rate, "chat-rate", 5, "chat messages per second per connection, commands included; over it an error line (0 = no limit)")
	fs.IntVar(&o.hub.Burst, "chat-burst", hub.DefaultBurst, "chat messages accepted at once on an idle connection before --chat-rate applies")
	fs.IntVar(&o.hub.MaxStrikes, "chat-max-strikes", hub.DefaultMaxStrikes, "consecutive messages over --chat-rate that close the connection with 1008")
	fs.IntVar(&o.hub.MaxLine, "chat-max-line", hub.DefaultMaxLine, "largest chat text in bytes; longer gets an error line")
	fs.Int64Var(&o.hub.MaxMessage, "chat-max-message", 0, "largest /chat frame or message in bytes, at most --max-frame-size/--max-message-size; larger closes with 1009 (0 = 4 x --chat-max-line)")
	add("Chat", "shards", "chat-rate", "chat-burst", "chat-max-strikes", "chat-max-line", "chat-max-message")

	add("Authentication", addAuthFlags(fs, &o.auth, e)...)

	fs.IntVar(&o.hub.History, "history", 50, "messages kept per room, sent to JSON clients on entry and resumable after a reconnect (0 = no history)")
	fs.DurationVar(&o.hub.HistoryTTL, "history-ttl", hub.DefaultHistoryTTL, "how long a room's messages are kept")
	fs.Int64Var(&o.hub.HistoryMaxBytes, "history-max-bytes", hub.DefaultHistoryMaxBytes, "memory for all rooms' history on the node, in bytes; over it the oldest messages go first")
	fs.Int64Var(&o.hub.HistoryRoomMaxBytes, "history-room-max-bytes", 0, "the most of --history-max-bytes one room holds (its oldest go first) and one connection's messages hold in all rooms (beyond it they are delivered without an offset, not kept) (0 = 1/64 of --history-max-bytes)")
	fs.BoolVar(&o.historyShared, "history-shared", false, "with --nats: keep the history in a JetStream stream shared by all nodes (same offsets everywhere, resume on any node, survives restarts); messages are then delivered once the stream has stored them, and dropped while it is unavailable")
	fs.DurationVar(&o.historyWait, "history-shared-wait", 0, "with --history-shared: how long to wait at start for the shared history stream (JetStream); the node serves nothing until it is set up, and past this it refuses to start (exit 1); 0 = wait as long as it takes. A node never falls back to a history of its own")
	add("History", "history", "history-ttl", "history-max-bytes", "history-room-max-bytes", "history-shared", "history-shared-wait")

	fs.IntVar(&o.memory.GCPercent, "gogc", 0, "GC percent: heap growth over the live heap before a collection, as GOGC (0 = $GOGC if set, else 100; -1 = off, needs a memory limit)")
	fs.Int64Var(&o.memory.MemoryLimit, "memory-limit", 0, "soft memory limit of the Go runtime in bytes, as GOMEMLIMIT (0 = $GOMEMLIMIT if set, else 90% of the cgroup's memory limit if any; -1 = none)")
	add("Memory", "gogc", "memory-limit")

	add("Cluster", addClusterFlags(fs, &o.cluster)...)

	add("Backend (server API and events)", addBackendFlags(fs, &o.backend)...)

	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus /metrics and /healthz on this address (empty = off)")
	fs.BoolVar(&o.pprof, "pprof", false, "also serve net/http/pprof under /debug/pprof/ on --metrics-addr")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 10*time.Second, "on SIGTERM/SIGINT, wait this long for connections to close after sending 1001 and, with --nats, for their names to be released; the node exits within it plus 1s whatever NATS does")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error (debug logs every connection's lifecycle)")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	add("Operations", "metrics-addr", "pprof", "drain-timeout", "log-level", "log-format", "version")

	fs.Usage = func() { usage(fs, groups) }
	return fs, groups
}

// envName is the environment variable of a flag.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parse reads the command line, then the environment for the flags the
// command line did not set.
func parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only; see --help)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %v", envName(f.Name), v, e)
			}
		}
	})
	return err
}

func usage(fs *flag.FlagSet, groups []group) {
	w := fs.Output()
	fmt.Fprintf(w, "Usage: wsnode [flags]\n       wsnode token --hmac-secret-file F --sub ID [--name N] [--ttl 1h] [--rooms a,b*]   (prints a connect token; see wsnode token --help)\n\nThe edge WebSocket node: /echo, /chat and the chat page on one port.\n"+
		"Every flag can also be set from the environment: --max-conns is %s (the command line wins).\n", envName("max-conns"))
	for _, g := range groups {
		fmt.Fprintf(w, "\n%s:\n", g.title)
		for _, name := range g.flags {
			f := fs.Lookup(name)
			typ, help := flag.UnquoteUsage(f)
			line := "  --" + f.Name
			if typ != "" {
				line += " " + typ
			}
			fmt.Fprintf(w, "%-32s %s", line, help)
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "0s" {
				fmt.Fprintf(w, " (default %s)", f.DefValue)
			}
			fmt.Fprintf(w, " [$%s]\n", envName(f.Name))
		}
	}
}
