package compare

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"edgews/bench"
)

// ScaleConfig is a scale run: Conns idle connections over as many node
// processes (sharing one port with SO_REUSEPORT) and bench workers as the
// per-process descriptor limit needs, then an echo latency probe while they
// are held.
type ScaleConfig struct {
	Bin     string        // if empty, "bin"
	Conns   int           // if zero, 100000
	Path    string        // route of the idle connections; if empty, "/echo"
	PerProc int           // connections per node process and per bench worker; if zero, 18000
	Ramp    float64       // connections/s; if zero, 5000
	Echo    int           // echo connections of the latency probe; if zero, 100
	EchoFor time.Duration // if zero, 10s
	Log     io.Writer     // progress; if nil, discarded
	// TLSCert and TLSKey, if set, make every connection wss://: the nodes
	// serve TLS with them, and the bench trusts CA (a PEM file; the
	// system's roots if empty).
	TLSCert, TLSKey, CA string
}

// ScaleResult is what Scale measured.
type ScaleResult struct {
	Procs   int
	Path    string        // route of the idle connections
	Connect *bench.Report // the idle connections (RSS per node process in Servers)
	Echo    *bench.Report // the latency probe under that load; nil if it failed
	EchoErr error         // why the probe failed
	Ramp    time.Duration // from the first dial until all were open
}

// loadedTimeouts are the dial and upgrade timeouts of both runs: a scale
// run saturates the machine on purpose (dozens of processes on a few
// cores), and a connection slow to be served then is not a failure.
var loadedTimeouts = []string{"--dial-timeout", "30s", "--handshake-timeout", "30s"}

// Scale runs the scale scenario.
func Scale(ctx context.Context, cfg ScaleConfig) (*ScaleResult, error) {
	if cfg.Bin == "" {
		cfg.Bin = "bin"
	}
	if cfg.Conns == 0 {
		cfg.Conns = 100000
	}
	if cfg.PerProc == 0 {
		cfg.PerProc = 18000
	}
	if cfg.Path == "" {
		cfg.Path = "/echo"
	}
	if cfg.Ramp == 0 {
		cfg.Ramp = 5000
	}
	if cfg.Echo == 0 {
		cfg.Echo = 100
	}
	if cfg.EchoFor == 0 {
		cfg.EchoFor = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	procs := (cfg.Conns + cfg.PerProc - 1) / cfg.PerProc
	// As many bench workers as node processes: each holds PerProc at most,
	// under the descriptor limit; the latency probe is a process of its own.
	scheme, nodeArgs, tlsArgs := "ws://", []string(nil), []string(nil)
	if cfg.TLSCert != "" {
		scheme = "wss://"
		nodeArgs = []string{"--tls-cert", cfg.TLSCert, "--tls-key", cfg.TLSKey, "--handshake-timeout", "30s"}
		if cfg.CA != "" {
			tlsArgs = []string{"--ca", cfg.CA}
		}
	}
	cl, err := start(ctx, cfg.Bin, "wsnode", procs, nodeArgs...)
	if err != nil {
		return nil, err
	}
	defer cl.stop()
	time.Sleep(200 * time.Millisecond)
	fmt.Fprintf(cfg.Log, "scale: %d node processes on %s, dialing %d connections to %s at %.0f/s\n", procs, cl.addr, cfg.Conns, cfg.Path, cfg.Ramp)

	rampFor := time.Duration(float64(cfg.Conns)/cfg.Ramp*float64(time.Second)) + 5*time.Second
	hold := rampFor + cfg.EchoFor + 5*time.Second
	type out struct {
		rep *bench.Report
		err error
	}
	connDone := make(chan out, 1)
	go func() {
		rep, _, err := runBench(ctx, cfg.Bin, append([]string{"connect", "-q", "--json", "-c", strconv.Itoa(cfg.Conns),
			"--procs", strconv.Itoa(procs), "--ramp", strconv.FormatFloat(cfg.Ramp, 'f', -1, 64),
			"--duration", hold.String(), "--url", scheme + cl.addr + cfg.Path, "--server-pid", cl.pidList()}, append(tlsArgs, loadedTimeouts...)...))
		connDone <- out{rep, err}
	}()
	select {
	case <-time.After(rampFor):
	case o := <-connDone:
		return nil, fmt.Errorf("compare: scale: the connect run ended early: %v", o.err)
	}
	fmt.Fprintf(cfg.Log, "scale: probing echo latency with %d connections for %v under the load\n", cfg.Echo, cfg.EchoFor)
	echo, _, echoErr := runBench(ctx, cfg.Bin, append([]string{"echo", "-q", "--json", "-c", strconv.Itoa(cfg.Echo),
		"--duration", cfg.EchoFor.String(), "--url", scheme + cl.addr}, append(tlsArgs, loadedTimeouts...)...))
	o := <-connDone
	if o.err != nil {
		return nil, o.err
	}
	res := &ScaleResult{Procs: procs, Path: cfg.Path, Connect: o.rep, Echo: echo, EchoErr: echoErr}
	for _, s := range o.rep.Series {
		if s.Conns >= o.rep.Conns.Connected {
			res.Ramp = time.Duration(s.T) * time.Second
			break
		}
	}
	return res, nil
}

// MarkdownScale renders a scale result.
func MarkdownScale(w io.Writer, r *ScaleResult) {
	c := r.Connect
	fmt.Fprintf(w, "| figure | value |\n|---|---:|\n")
	fmt.Fprintf(w, "| node processes (SO_REUSEPORT) / bench workers | %d / %d |\n", r.Procs, c.Procs)
	fmt.Fprintf(w, "| connections open / target (failed), route | %d / %d (%d), %s |\n", c.Conns.Connected, c.Conns.Target, c.Conns.Failed, r.Path)
	for reason, n := range c.Conns.Failures {
		fmt.Fprintf(w, "| failed: %s | %d (%s) |\n", reason, n, c.Conns.FailureExamples[reason])
	}
	fmt.Fprintf(w, "| ramp time | %v |\n", r.Ramp)
	if t := c.Conns.TLSHandshakeTime; t != nil {
		fmt.Fprintf(w, "| TLS handshake p50 / p99 (wss) | %.2f / %.2f ms |\n", t.P50Us/1000, t.P99Us/1000)
	}
	if c.Conns.ConnectTime != nil {
		fmt.Fprintf(w, "| connect time p50 / p99 | %.2f / %.2f ms |\n", c.Conns.ConnectTime.P50Us/1000, c.Conns.ConnectTime.P99Us/1000)
	}
	var total int64
	for _, s := range c.Servers {
		if s.PID == 0 {
			continue
		}
		total += s.RSSAfterBytes - s.RSSBeforeBytes
		fmt.Fprintf(w, "| node pid %d RSS before / after | %.1f / %.1f MiB |\n", s.PID, float64(s.RSSBeforeBytes)/(1<<20), float64(s.RSSAfterBytes)/(1<<20))
	}
	if c.Conns.Connected > 0 {
		fmt.Fprintf(w, "| node RSS per connection (all processes) | %.0f B |\n", float64(total)/float64(c.Conns.Connected))
	}
	if s := c.Sockstat; s != nil {
		fmt.Fprintf(w, "| kernel TCP memory before / after (machine-wide) | %.1f / %.1f MiB |\n", float64(s.TCPMemPagesBefore*int64(s.PageSize))/(1<<20), float64(s.TCPMemPagesAfter*int64(s.PageSize))/(1<<20))
		fmt.Fprintf(w, "| kernel TCP memory per connection (machine-wide, both ends on loopback) | %.0f B |\n", s.BytesPerConn)
	}
	if r.EchoErr != nil {
		fmt.Fprintf(w, "| echo under load | failed: %v |\n", r.EchoErr)
	}
	if e := r.Echo; e != nil && e.Latency != nil && e.Messages != nil {
		fmt.Fprintf(w, "| echo under load: msgs/s | %.0f |\n", math.Round(e.Messages.PerSec))
		fmt.Fprintf(w, "| echo under load: round trip p50 / p99 / p99.9 (closed loop, raw) | %.2f / %.2f / %.2f ms |\n", e.Latency.P50Us/1000, e.Latency.P99Us/1000, e.Latency.P999Us/1000)
		if c := e.LatencyCorrected; c != nil {
			fmt.Fprintf(w, "| echo under load: round trip p99 / p99.9, corrected for coordinated omission | %.2f / %.2f ms |\n", c.P99Us/1000, c.P999Us/1000)
		}
	}
}
