// Command wsnode runs the edge WebSocket node: /echo and /chat on one port,
// /healthz, and Prometheus metrics on --metrics-addr. See --help.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"edgews/engine"
	"edgews/engine/mempolicy"
	"edgews/hub"
	"edgews/hub/web"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "token" {
		return runToken(args[1:], stdout, stderr)
	}
	var o options
	fs, _ := newFlagSet(&o, stderr)
	if err := parse(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "wsnode: %v\n", err)
		return 2
	}
	if o.version {
		fmt.Fprintf(stdout, "wsnode %s\n", buildVersion())
		return 0
	}
	if err := checkCompression(&o.engine); err != nil {
		fmt.Fprintf(stderr, "wsnode: %v\n", err)
		return 2
	}
	logger, err := newLogger(o.logLevel, o.logFormat, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "wsnode: %v\n", err)
		return 2
	}
	if o.allowedOrigins != "" {
		for _, s := range strings.Split(o.allowedOrigins, ",") {
			if s = strings.TrimSpace(s); s != "" {
				o.engine.AllowedOrigins = append(o.engine.AllowedOrigins, s)
			}
		}
	}
	o.engine.Logger = logger
	o.hub.Logger = logger
	ts, err := o.tls.setup(logger)
	if err != nil {
		logger.Error("TLS", "err", err)
		return 2
	}
	if ts != nil {
		o.engine.TLS = ts.config
	}
	raiseFileLimit(logger)
	mem, err := mempolicy.Apply(o.memory)
	if err != nil {
		logger.Error("memory policy", "err", err)
		return 2
	}
	logger.Info("memory policy", "gogc", mem.GCPercent, "memory_limit", mem.MemoryLimit, "memory_limit_from", mem.Source)
	offLoop := o.backend.apiAddr != "" || o.backend.eventsURL != "" || o.cluster.urls != "" || o.cluster.embed != ""
	loops, procs := schedule(o.engine.Loops, offLoop, getenv)
	logger.Info("scheduler", "loops", loops, "gomaxprocs", procs)
	if o.hub.Auth, err = o.auth.verifier(logger); err != nil {
		logger.Error("authentication", "err", err)
		return 2
	}
	o.engine.UpgradeWorkers = o.auth.upgradeWorkers(o.engine.UpgradeWorkers)
	o.hub.AuthNameHold = o.auth.nameHoldConfig()
	if o.hub.Auth != nil {
		defer o.hub.Auth.Close()
		logger.Info("authentication", "mode", o.hub.Auth.Mode().String(), "workers", o.engine.UpgradeWorkers)
	}

	cl, err := o.cluster.start(logger, getenv)
	if err != nil {
		logger.Error("cluster", "err", err)
		return 2
	}
	// The cluster's goodbye comes after the drain (a drained node's users
	// are released first) and shares its deadline; on the other ways out,
	// it gets a deadline of its own.
	var stopBy time.Time
	defer func() {
		if stopBy.IsZero() {
			stopBy = time.Now().Add(5 * time.Second)
		}
		ctx, cancel := context.WithDeadline(context.Background(), stopBy)
		cl.stop(ctx)
		cancel()
	}()
	if cl.node != nil {
		o.hub.Cluster = cl.node
		if o.historyShared && o.hub.History > 0 {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			cl.history, err = sharedHistory(ctx, cl.node, o.hub, o.historyWait, logger)
			stopped := ctx.Err() != nil
			stop()
			switch {
			case err != nil && stopped:
				logger.Info("stopped before the shared history was set up")
				return 0
			case err != nil:
				logger.Error("refusing to start: a node of a shared-history cluster never keeps a history of its own", "err", err)
				return 1
			}
			o.hub.Sequencer = cl.history
		}
	}
	if err := o.backend.check(o.engine.MemoryBudget, cl.node != nil); err != nil {
		logger.Error("backend", "err", err)
		return 2
	}

	srv := engine.New(o.engine)
	ts.start(srv)
	defer ts.close()
	be := &backend{}
	if err := o.backend.listenAPI(be); err != nil {
		logger.Error("api", "err", err)
		return 2
	}
	var nodeSink hub.EventSink
	o.hub.Backend = hub.BackendConfig{Version: buildVersion(), EventWhispers: o.backend.eventsWhispers}
	if cl.node != nil {
		nodeSink, o.hub.Backend.NodeID = cl.node, cl.node.ID()
	}
	if o.hub.Backend.Events, be.hook, err = o.backend.events(srv, nodeSink, logger); err != nil {
		logger.Error("events", "err", err)
		be.stop(context.Background())
		return 2
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		be.stop(ctx) // after the drain: its disconnect events are posted
		cancel()
	}()
	h := hub.New(srv, o.hub)
	be.hub = h
	ctl := h.Control()
	if cl.node != nil {
		ctl = cl.node.Control()
	}
	if err := be.serveAPI(ctl, logger); err != nil {
		logger.Error("api", "err", err)
		return 2
	}
	srv.HandleHTTP("/healthz", func(*engine.Request) engine.Response { return health(srv) })
	page := web.Handler()
	for _, p := range web.Paths() {
		srv.HandleHTTP(p, page)
	}

	// Memory freed by a wave of connections goes back to the system.
	release := &mempolicy.Releaser{Open: srv.OpenConns, Logger: logger}
	releaseCtx, stopRelease := context.WithCancel(context.Background())
	defer stopRelease()
	go release.Run(releaseCtx)

	var metrics *http.Server
	if o.metricsAddr != "" {
		ln, err := net.Listen("tcp", o.metricsAddr)
		if err != nil {
			logger.Error("metrics listener", "err", err)
			return 1
		}
		metrics = &http.Server{Handler: metricsHandler(srv, h, release, cl, o.pprof, append(ts.collectors(srv), newBackendCollector(be))...), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = metrics.Serve(ln) }()
		logger.Info("metrics listening", "addr", ln.Addr().String())
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	errc := make(chan error, 1)
	go func() { errc <- srv.Run() }()
	select {
	case <-srv.Ready():
		logger.Info("listening", "addr", srv.Addr().String(), "pid", os.Getpid(), "version", buildVersion(), "tls", ts != nil)
	case err := <-errc:
		logger.Error("cannot start", "err", err)
		return 1
	}

	select {
	case s := <-sig:
		logger.Info("shutting down", "signal", s.String(), "drain_timeout", o.drainTimeout)
		stopBy = time.Now().Add(o.drainTimeout)
		ctx, cancel := context.WithDeadline(context.Background(), stopBy)
		if err := srv.Shutdown(ctx); err != nil {
			logger.Warn("drain cut short", "err", err, "left", srv.OpenConns())
		}
		<-errc
		// The users' names are released within what is left of the
		// drain's time (cluster.CloseMargin more at most).
		cl.stop(ctx)
		cancel()
	case err := <-errc:
		logger.Error("reactor stopped", "err", err)
		return 1
	}
	if metrics != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
		_ = metrics.Shutdown(ctx)
		cancel()
	}
	logger.Info("stopped")
	return 0
}

func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

// raiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit: every
// connection is a descriptor.
func raiseFileLimit(logger *slog.Logger) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
			logger.Warn("cannot raise the file descriptor limit", "err", err)
			return
		}
	}
	logger.Debug("file descriptor limit", "nofile", r.Cur)
}

// schedule gives the Go runtime one P more than the event loops when
// goroutines off the loops serve the node (offLoop: the server API, the
// events webhook, NATS), unless GOMAXPROCS is set, and returns the loops
// and GOMAXPROCS. A loop under load never blocks, so it keeps its P; with
// a P per loop and no more, the goroutines that wait on the runtime's
// network poller are only noticed by sysmon's poll every 10 ms, then wait
// for a loop to yield (every 5 ms): measured with 1,000 API calls/s
// beside a 1,000-user chat on two loops, API p99 19-20 ms with two Ps
// against 5.4-8.3 ms with three. Without such goroutines the spare P is
// not given: a loop's yield then wakes an idle P's thread, which cost 5%
// more CPU per echo and 3% per broadcast delivery, measured side by side.
func schedule(loops int, offLoop bool, getenv func(string) string) (int, int) {
	if loops <= 0 {
		loops = runtime.NumCPU()
	}
	if offLoop && getenv("GOMAXPROCS") == "" && runtime.GOMAXPROCS(0) <= loops {
		runtime.GOMAXPROCS(loops + 1)
	}
	return loops, runtime.GOMAXPROCS(0)
}
