package compare

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"edgews/bench"
)

// Config is a comparison run. Zero fields take the documented defaults,
// which are the issue's: echo C=1000 P=1 KiB, broadcast N=10,000,
// connect N=50,000 idle, on /echo (connect) and on /chat (connect-chat).
// Echo runs twice: closed loop for messages per second (with its round
// trips corrected for coordinated omission), and open loop at EchoRate
// ("echo-open") for the latency figure.
type Config struct {
	Bin string // directory holding wsnode, wsbench, gorilla, gws, nbio (and uws, if it runs); if empty, "bin"
	// Servers are the servers to run, the node first; if empty, Servers.
	// An entry is a binary in Bin, optionally followed by flags for it,
	// separated by spaces ("wsnode --loops 1"); the entry is its column's
	// name in the table.
	Servers []string
	// Repeat runs every scenario this many times, the servers in turn each
	// time; the table gives each figure's median. If zero, 1.
	Repeat int
	// Scenarios to run, from "echo" (closed loop), "echo-open" (open loop
	// at EchoRate), "broadcast", "connect" (idle /echo connections),
	// "connect-chat" (idle /chat users, each a chat member),
	// "echo-deflate" and "broadcast-deflate" (echo and broadcast with
	// permessage-deflate on in the servers and in wsbench, chat-like JSON
	// payloads); if empty, all.
	Scenarios []string

	EchoConns    int           // if zero, 1000
	EchoPayload  int           // if zero, 1024
	EchoInflight int           // closed loop; if zero, 1
	EchoRate     float64       // echo-open: messages per second over all connections; if zero, 5000
	Duration     time.Duration // echo and broadcast send phase; if zero, 10s

	BroadcastConns   int     // if zero, 10000
	BroadcastSenders int     // if zero, 20
	BroadcastRate    float64 // messages/s, all senders together; if zero, 40 (2/s per sender: under the node's default --chat-rate)
	BroadcastPayload int     // if zero, 64

	DeflateConns   int // broadcast-deflate: users; if zero, 2000
	DeflatePayload int // echo-deflate and broadcast-deflate: payload bytes; if zero, 1024

	ConnectConns int           // if zero, 50000
	ConnectProcs int           // server processes and bench workers; if zero, enough for 18,000 each
	ConnectHold  time.Duration // if zero, 5s
	Ramp         float64       // connections/s while dialing; if zero, 5000

	// Reports, if set, receives each raw wsbench report as NAME-SCENARIO.json.
	Reports string
	// Log receives progress lines; if nil, discarded.
	Log io.Writer
}

func (c *Config) defaults() {
	orDefault(&c.Bin, "bin")
	if len(c.Servers) == 0 {
		c.Servers = Servers
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = []string{"echo", "echo-open", "broadcast", "connect", "connect-chat", "echo-deflate", "broadcast-deflate"}
	}
	orDefault(&c.EchoConns, 1000)
	orDefault(&c.EchoPayload, 1024)
	orDefault(&c.EchoInflight, 1)
	orDefault(&c.EchoRate, 5000)
	orDefault(&c.BroadcastConns, 10000)
	orDefault(&c.BroadcastSenders, 20)
	orDefault(&c.BroadcastPayload, 64)
	orDefault(&c.DeflateConns, 2000)
	orDefault(&c.DeflatePayload, 1024)
	orDefault(&c.ConnectConns, 50000)
	orDefault(&c.ConnectProcs, (c.ConnectConns+17999)/18000)
	orDefault(&c.Duration, 10*time.Second)
	orDefault(&c.BroadcastRate, 40)
	orDefault(&c.ConnectHold, 5*time.Second)
	orDefault(&c.Ramp, 5000)
	orDefault(&c.Log, io.Discard)
	orDefault(&c.Repeat, 1)
}

// orDefault sets *p to v if *p is its type's zero value: the defaults of a
// config whose zero fields mean "the default".
func orDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Result is one server's report for one scenario.
type Result struct {
	Server   string
	Scenario string
	Report   *bench.Report
	Err      error
}

// ErrUnsupported is a Result's error for a scenario a server does not
// serve (uws has no permessage-deflate here); the table shows "n/a".
var ErrUnsupported = errors.New("compare: scenario not supported by this server")

// Run runs every scenario against every server, one at a time, and returns
// the results in scenario, then repeat, then server order.
func Run(ctx context.Context, cfg Config) []Result {
	cfg.defaults()
	var out []Result
	for _, sc := range cfg.Scenarios {
		for i := range cfg.Repeat {
			for _, srv := range cfg.Servers {
				if !supports(srv, sc) {
					out = append(out, Result{Server: srv, Scenario: sc, Err: ErrUnsupported})
					continue
				}
				fmt.Fprintf(cfg.Log, "compare: %s against %s (%d of %d) ...\n", sc, srv, i+1, cfg.Repeat)
				rep, err := runOne(ctx, &cfg, srv, sc, i)
				if err != nil {
					fmt.Fprintf(cfg.Log, "compare: %s against %s: %v\n", sc, srv, err)
				}
				out = append(out, Result{Server: srv, Scenario: sc, Report: rep, Err: err})
			}
		}
	}
	return out
}

// supports reports whether server entry srv serves scenario sc: uws is
// built without zlib, so without permessage-deflate.
func supports(srv, sc string) bool {
	bin, _ := serverSpec(srv)
	return bin != "uws" || !strings.HasSuffix(sc, "-deflate")
}

// serverSpec splits a Servers entry into its binary and its flags.
func serverSpec(entry string) (bin string, flags []string) {
	f := strings.Fields(entry)
	if len(f) == 0 {
		return "", nil
	}
	return f[0], f[1:]
}

// reportName is a file name for entry's report of scenario sc.
func reportName(entry, sc string) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '=' {
			return r
		}
		return '_'
	}, strings.Join(strings.Fields(entry), "_"))
	return name + "-" + sc + ".json"
}

// runOne starts the server, runs one wsbench scenario against it (the
// repeat-th time, from 0), stops it.
func runOne(ctx context.Context, cfg *Config, srv, scenario string, repeat int) (*bench.Report, error) {
	procs := 1
	bin, flags := serverSpec(srv)
	args := []string{scenario, "-q", "--json"}
	path := ""
	var extra []string // server flags
	switch scenario {
	case "echo":
		args = append(args, "-c", strconv.Itoa(cfg.EchoConns), "--payload", strconv.Itoa(cfg.EchoPayload),
			"--inflight", strconv.Itoa(cfg.EchoInflight), "--duration", cfg.Duration.String())
	case "echo-open":
		args = append([]string{"echo"}, args[1:]...)
		args = append(args, "-c", strconv.Itoa(cfg.EchoConns), "--payload", strconv.Itoa(cfg.EchoPayload),
			"--rate", strconv.FormatFloat(cfg.EchoRate, 'f', -1, 64), "--duration", cfg.Duration.String())
	case "broadcast":
		args = append(args, "-c", strconv.Itoa(cfg.BroadcastConns), "--senders", strconv.Itoa(cfg.BroadcastSenders),
			"--rate", strconv.FormatFloat(cfg.BroadcastRate, 'f', -1, 64), "--payload", strconv.Itoa(cfg.BroadcastPayload),
			"--duration", cfg.Duration.String(), "--ramp", strconv.FormatFloat(cfg.Ramp, 'f', -1, 64))
	case "connect", "connect-chat":
		procs = cfg.ConnectProcs
		args = append([]string{"connect"}, args[1:]...)
		args = append(args, "-c", strconv.Itoa(cfg.ConnectConns), "--procs", strconv.Itoa(procs),
			"--duration", cfg.ConnectHold.String(), "--ramp", strconv.FormatFloat(cfg.Ramp, 'f', -1, 64))
		if scenario == "connect-chat" {
			path = "/chat"
		}
	case "echo-deflate":
		args = append([]string{"echo"}, args[1:]...)
		args = append(args, "--compression", "-c", strconv.Itoa(cfg.EchoConns), "--payload", strconv.Itoa(cfg.DeflatePayload),
			"--inflight", strconv.Itoa(cfg.EchoInflight), "--duration", cfg.Duration.String())
		extra = compressionFlags(bin)
	case "broadcast-deflate":
		args = append([]string{"broadcast"}, args[1:]...)
		args = append(args, "--compression", "-c", strconv.Itoa(cfg.DeflateConns), "--senders", strconv.Itoa(cfg.BroadcastSenders),
			"--rate", strconv.FormatFloat(cfg.BroadcastRate, 'f', -1, 64), "--payload", strconv.Itoa(cfg.DeflatePayload),
			"--duration", cfg.Duration.String(), "--ramp", strconv.FormatFloat(cfg.Ramp, 'f', -1, 64))
		extra = compressionFlags(bin)
	default:
		return nil, fmt.Errorf("compare: unknown scenario %q", scenario)
	}
	cl, err := start(ctx, cfg.Bin, bin, procs, append(flags, extra...)...)
	if err != nil {
		return nil, err
	}
	defer cl.stop()
	time.Sleep(200 * time.Millisecond) // let the servers settle before the RSS baseline
	args = append(args, "--url", "ws://"+cl.addr+path, "--server-pid", cl.pidList())
	rep, raw, err := runBench(ctx, cfg.Bin, args)
	if cfg.Reports != "" && raw != nil {
		_ = os.MkdirAll(cfg.Reports, 0o755)
		name := scenario
		if cfg.Repeat > 1 {
			name = fmt.Sprintf("%s-%d", scenario, repeat+1)
		}
		_ = os.WriteFile(filepath.Join(cfg.Reports, reportName(srv, name)), raw, 0o644)
	}
	return rep, err
}

// compressionFlags turns permessage-deflate on in server srv: the node's
// --compression on, the peers' bool --compression (bench/peers/README.md),
// which the node also accepts as --compression=true.
func compressionFlags(srv string) []string {
	if srv == "wsnode" {
		return []string{"--compression=on"}
	}
	return []string{"--compression=true"}
}

// runBench runs wsbench and decodes its JSON report.
func runBench(ctx context.Context, dir string, args []string) (*bench.Report, []byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "wsbench"), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var rep bench.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		return nil, nil, fmt.Errorf("compare: wsbench %s: %v (%v): %s", strings.Join(args, " "), runErr, err, lastLine(stderr.String()))
	}
	if rep.Error != "" {
		return &rep, stdout.Bytes(), fmt.Errorf("compare: wsbench: %s", rep.Error)
	}
	return &rep, stdout.Bytes(), nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// metric is one row of the table.
type metric struct {
	scenario, name string
	lowerIsBetter  bool
	unit           string
	get            func(*bench.Report) (float64, bool)
}

func server(r *bench.Report) *bench.ServerReport {
	if len(r.Servers) == 0 {
		return nil
	}
	return &r.Servers[len(r.Servers)-1] // the sum entry when there are several
}

var metrics = []metric{
	{"echo", "echo msgs/s", false, "", func(r *bench.Report) (float64, bool) { return perSec(r) }},
	{"echo-open", "echo p99 round trip, open loop", true, "ms", func(r *bench.Report) (float64, bool) { return p99ms(r) }},
	{"echo-open", "echo lost + duplicated, open loop", true, "", lostDup},
	{"echo", "echo p99 round trip, closed loop, corrected", true, "ms", p99Corrected},
	{"echo", "server CPU s per 1M echoes", true, "s", cpuPerMillion},
	{"echo", "server system CPU share", true, "%", sysShare},
	{"echo", "server context switches per echo", true, "x", cswPerMsg},
	{"echo", "server voluntary context switches per echo", true, "x", vcsPerMsg},
	{"broadcast", "broadcast deliveries/s", false, "", func(r *bench.Report) (float64, bool) { return perSec(r) }},
	{"broadcast", "broadcast loss", true, "%", lossPct},
	{"broadcast", "broadcast p99 delivery latency", true, "ms", func(r *bench.Report) (float64, bool) { return p99ms(r) }},
	{"broadcast", "server CPU s per 1M deliveries", true, "s", cpuPerMillion},
	{"broadcast", "server system CPU share", true, "%", sysShare},
	{"broadcast", "server context switches per 1k deliveries", true, "x", perK(cswPerMsg)},
	{"broadcast", "server voluntary context switches per 1k deliveries", true, "x", perK(vcsPerMsg)},
	{"connect", "idle /echo connections held", false, "", connected},
	{"connect", "server RSS per idle /echo connection", true, "B", rssPerConn},
	{"connect-chat", "idle /chat users held", false, "", connected},
	{"connect-chat", "server RSS per idle /chat user", true, "B", rssPerConn},
	{"echo-deflate", "compressed echo msgs/s", false, "", func(r *bench.Report) (float64, bool) { return perSec(r) }},
	{"echo-deflate", "server CPU s per 1M compressed echoes", true, "s", cpuPerMillion},
	{"echo-deflate", "compressed echo wire bytes per reply", true, "B", wirePerMsg},
	{"broadcast-deflate", "compressed broadcast deliveries/s", false, "", func(r *bench.Report) (float64, bool) { return perSec(r) }},
	{"broadcast-deflate", "compressed broadcast loss", true, "%", lossPct},
	{"broadcast-deflate", "server CPU s per 1M compressed deliveries", true, "s", cpuPerMillion},
	{"broadcast-deflate", "compressed broadcast wire bytes per delivery", true, "B", wirePerMsg},
}

// lostDup is what echo lost and got twice: anything but 0 is a defect.
func lostDup(r *bench.Report) (float64, bool) {
	if r.Messages == nil {
		return 0, false
	}
	return float64(r.Messages.Lost + r.Messages.Duplicated + r.Messages.Extra), true
}

// p99Corrected is closed-loop echo's p99 corrected for coordinated
// omission.
func p99Corrected(r *bench.Report) (float64, bool) {
	if r.LatencyCorrected == nil {
		return 0, false
	}
	return r.LatencyCorrected.P99Us / 1000, true
}

func lossPct(r *bench.Report) (float64, bool) {
	if r.Messages == nil {
		return 0, false
	}
	return r.Messages.LossPct, true
}

// wirePerMsg is the frame bytes per received message, as wsbench counted
// them off the socket (compressed when the server compressed).
func wirePerMsg(r *bench.Report) (float64, bool) {
	if r.Messages == nil || r.Messages.Received == 0 {
		return 0, false
	}
	return r.Messages.WireBytesPerMsg, true
}

func connected(r *bench.Report) (float64, bool) { return float64(r.Conns.Connected), true }

func rssPerConn(r *bench.Report) (float64, bool) {
	if s := server(r); s != nil && r.Conns.Connected > 0 {
		return s.RSSBytesPerConn, true
	}
	return 0, false
}

func perSec(r *bench.Report) (float64, bool) {
	if r.Messages == nil {
		return 0, false
	}
	return r.Messages.PerSec, true
}

func p99ms(r *bench.Report) (float64, bool) {
	if r.Latency == nil {
		return 0, false
	}
	return r.Latency.P99Us / 1000, true
}

// sysShare is the server's system (kernel) time as a share of its CPU time.
func sysShare(r *bench.Report) (float64, bool) {
	if s := server(r); s != nil && s.CPUSeconds > 0 {
		return 100 * s.SysSeconds / s.CPUSeconds, true
	}
	return 0, false
}

// cswPerMsg is the server's context switches (all threads) per message received.
func cswPerMsg(r *bench.Report) (float64, bool) {
	if s := server(r); s != nil && r.Messages != nil && r.Messages.Received > 0 {
		return s.CtxSwitchesPerMsg, true
	}
	return 0, false
}

// vcsPerMsg is the voluntary part of cswPerMsg: a thread blocked or slept.
func vcsPerMsg(r *bench.Report) (float64, bool) {
	if s := server(r); s != nil && r.Messages != nil && r.Messages.Received > 0 {
		return s.VolCtxSwitchesPerMsg, true
	}
	return 0, false
}

// perK is a per-message figure per thousand messages.
func perK(get func(*bench.Report) (float64, bool)) func(*bench.Report) (float64, bool) {
	return func(r *bench.Report) (float64, bool) {
		v, ok := get(r)
		return 1000 * v, ok
	}
}

func cpuPerMillion(r *bench.Report) (float64, bool) {
	if s := server(r); s != nil && s.CPUSecPerMillion > 0 {
		return s.CPUSecPerMillion, true
	}
	return 0, false
}

// Markdown renders the results as a table: one row per metric, one column
// per server, and the ratio of the node to each peer and to the best peer
// (for "lower is better" rows, best is the lowest). With repeats, each
// figure is the median of the server's runs of that scenario.
func Markdown(w io.Writer, results []Result) {
	bySrv := map[string]map[string][]*bench.Report{}
	unsupported := map[string]bool{} // server + "\x00" + scenario
	var servers []string
	for _, r := range results {
		if bySrv[r.Server] == nil {
			bySrv[r.Server] = map[string][]*bench.Report{}
			servers = append(servers, r.Server)
		}
		switch {
		case r.Err == nil:
			bySrv[r.Server][r.Scenario] = append(bySrv[r.Server][r.Scenario], r.Report)
		case errors.Is(r.Err, ErrUnsupported):
			unsupported[r.Server+"\x00"+r.Scenario] = true
		}
	}
	peers := servers[1:]
	fmt.Fprintf(w, "| metric | %s |", strings.Join(servers, " | "))
	for _, p := range peers {
		fmt.Fprintf(w, " %s/%s |", servers[0], p)
	}
	fmt.Fprintf(w, " %s/best peer |\n|---|", servers[0])
	fmt.Fprint(w, strings.Repeat("---:|", len(servers)+len(peers)+1), "\n")
	for _, m := range metrics {
		vals := map[string]float64{}
		have := false
		for _, s := range servers {
			var vs []float64
			for _, rep := range bySrv[s][m.scenario] {
				if v, ok := m.get(rep); ok {
					vs = append(vs, v)
				}
			}
			if len(vs) > 0 {
				vals[s] = median(vs)
				have = true
			}
		}
		if !have {
			continue
		}
		name := m.name
		if m.lowerIsBetter {
			name += " (lower is better)"
		}
		fmt.Fprintf(w, "| %s |", name)
		for _, s := range servers {
			if v, ok := vals[s]; ok {
				fmt.Fprintf(w, " %s |", format(v, m.unit))
			} else if unsupported[s+"\x00"+m.scenario] || len(bySrv[s][m.scenario]) != 0 {
				// A scenario the server does not serve, or a run that
				// succeeded but gave no figure for this metric (a run too
				// short for the server to use a measurable CPU tick, say):
				// not measured, which is not a failure.
				fmt.Fprint(w, " n/a |")
			} else {
				fmt.Fprint(w, " failed |")
			}
		}
		node, nodeOK := vals[servers[0]]
		best, bestOK := math.NaN(), false
		for _, p := range peers {
			v, ok := vals[p]
			if nodeOK && ok && v != 0 {
				fmt.Fprintf(w, " %.2f |", node/v)
			} else {
				fmt.Fprint(w, " - |")
			}
			if ok && (!bestOK || (m.lowerIsBetter && v < best) || (!m.lowerIsBetter && v > best)) {
				best, bestOK = v, true
			}
		}
		if nodeOK && bestOK && best != 0 {
			fmt.Fprintf(w, " %.2f |\n", node/best)
		} else {
			fmt.Fprint(w, " - |\n")
		}
	}
	for _, r := range results {
		if r.Err != nil && !errors.Is(r.Err, ErrUnsupported) {
			fmt.Fprintf(w, "\n%s %s: %v", r.Server, r.Scenario, r.Err)
		}
	}
	fmt.Fprintln(w)
}

func format(v float64, unit string) string {
	switch unit {
	case "":
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	case "%":
		return strconv.FormatFloat(v, 'f', 2, 64) + " %"
	case "B":
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64) + " B"
	case "x": // a count per message
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + " " + unit
}
