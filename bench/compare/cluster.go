package compare

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"edgews/bench"
)

// ClusterConfig is a cluster run (make bench-cluster): the same broadcast
// against one node and against a nats-server plus Nodes node processes
// joined to it (--nats), heavy and light; then idle memory per /chat user
// of one node without and with --nats. Zero fields take the defaults named.
type ClusterConfig struct {
	Bin      string        // holds wsnode, wsbench and nats-server; if empty, "bin"
	Nodes    int           // node processes of the cluster; if zero, 3
	Conns    int           // users in the one room; if zero, 6000
	Senders  int           // if zero, 20
	Rate     float64       // broadcasts/s, all senders together; if zero, 10 (60,000 deliveries/s with 6,000 users)
	Duration time.Duration // send phase of each broadcast run; if zero, 10s
	// Drain is how long wsbench keeps receiving after the send phase: a
	// delivery later than that counts as lost. If zero, 5s (on a shared
	// 2-core machine the heavy run's p99 reached 2 s, wsbench's default).
	Drain time.Duration
	// The light load, for latency: LightConns users, LightRate
	// broadcasts/s from LightSenders. If zero, 300, 10 and 10.
	LightConns   int
	LightSenders int
	LightRate    float64
	// IdleLo and IdleConns /chat users, each on a fresh node, held
	// IdleHold, for the idle memory rows: the RSS difference between the
	// two sizes over their difference in users is the cost per user with
	// the fixed costs (runtime, NATS client, registry) cancelled out. If
	// zero, 4000, 14000 and 3s; IdleLo < 0 skips the smaller size.
	IdleLo    int
	IdleConns int
	IdleHold  time.Duration
	// IdleRepeat is how many times the four idle runs are made, in turn
	// (smaller without and with --nats, then larger): one run's RSS
	// varies by tens of bytes per user with where the collector's cycles
	// fall, so the table gives the medians. If zero, 3.
	IdleRepeat int
	Log        io.Writer // progress; if nil, discarded
	// Reports, if set, receives each raw wsbench report as RUN.json.
	Reports string
}

func (c *ClusterConfig) defaults() {
	orDefault(&c.Bin, "bin")
	orDefault(&c.Nodes, 3)
	orDefault(&c.Conns, 6000)
	orDefault(&c.Senders, 20)
	orDefault(&c.LightConns, 300)
	orDefault(&c.LightSenders, 10)
	orDefault(&c.IdleConns, 14000)
	orDefault(&c.IdleLo, 4000)
	orDefault(&c.Rate, 10)
	orDefault(&c.Drain, 5*time.Second)
	orDefault(&c.LightRate, 10)
	orDefault(&c.Duration, 10*time.Second)
	orDefault(&c.IdleHold, 3*time.Second)
	orDefault(&c.IdleRepeat, 3)
	orDefault(&c.Log, io.Discard)
}

// ClusterResult is what Cluster measured: each pair is one node, then the
// cluster (or, for Idle, the node without then with --nats). A failed run
// leaves its report nil and its error in Errs.
type ClusterResult struct {
	Config                        ClusterConfig
	Single, Cluster               *bench.Report // broadcast, Conns users
	LightSingle, LightCluster     *bench.Report // broadcast, LightConns users
	IdleWithout, IdleWithNATS     *bench.Report // connect, IdleConns /chat users (the first repeat)
	IdleLoWithout, IdleLoWithNATS *bench.Report // connect, IdleLo /chat users; nil if skipped
	// IdleSlopes is each repeat's idle slope, without and with --nats,
	// for the repeats whose four runs all succeeded.
	IdleSlopes [][2]float64
	Errs       []error
}

// Cluster runs the cluster comparison. It returns an error only when a
// server cannot be started; a failed wsbench run is in Errs.
func Cluster(ctx context.Context, cfg ClusterConfig) (*ClusterResult, error) {
	cfg.defaults()
	res := &ClusterResult{Config: cfg}
	store, err := os.MkdirTemp("", "bench-cluster")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(store)
	keep := func(rep *bench.Report, err error) *bench.Report {
		if err != nil {
			res.Errs = append(res.Errs, err)
			if rep != nil && rep.Messages == nil && rep.Conns.Connected == 0 {
				return nil
			}
		}
		return rep
	}
	heavy := func(name, urls string, pids []int) (*bench.Report, error) {
		fmt.Fprintf(cfg.Log, "cluster: broadcast, %d users, %d senders, %g msg/s on %s\n", cfg.Conns, cfg.Senders, cfg.Rate, urls)
		return broadcastRun(ctx, &cfg, name, urls, pids, cfg.Conns, cfg.Senders, cfg.Rate, cfg.Duration)
	}
	light := func(name, urls string, pids []int) (*bench.Report, error) {
		fmt.Fprintf(cfg.Log, "cluster: light broadcast, %d users, %d senders, %g msg/s on %s\n", cfg.LightConns, cfg.LightSenders, cfg.LightRate, urls)
		return broadcastRun(ctx, &cfg, name, urls, pids, cfg.LightConns, cfg.LightSenders, cfg.LightRate, cfg.Duration)
	}
	// A short broadcast before the measured ones, on every fresh set of
	// nodes: the first on a fresh cluster also pays for creating the
	// room's subscriptions and registry entries, which is not the steady
	// state the figures are about. Its report is saved, not tabled.
	warm := func(name, urls string) {
		fmt.Fprintf(cfg.Log, "cluster: warm-up broadcast on %s\n", urls)
		rep, err := broadcastRun(ctx, &cfg, name, urls, nil, cfg.LightConns, cfg.LightSenders, cfg.LightRate, time.Second)
		if err == nil && rep.Messages != nil && rep.Messages.Lost > 0 {
			fmt.Fprintf(cfg.Log, "cluster: warm-up on %s lost %d of %d deliveries\n", urls, rep.Messages.Lost, rep.Messages.Expected)
		}
	}
	// idle measures users idle /chat users on a fresh node; withNATS
	// joins it to a fresh nats-server with an empty store, so that both
	// sizes of a slope start from the same state (a server that kept the
	// earlier runs' names and consumers gave the later runs a larger
	// fixed cost: up to 1 MB at 4,000 users).
	idle := func(name string, users int, withNATS bool) *bench.Report {
		if users <= 0 {
			return nil
		}
		natsURL := ""
		if withNATS {
			st, err := os.MkdirTemp(store, "idle")
			if err != nil {
				res.Errs = append(res.Errs, err)
				return nil
			}
			ns, err := startNATS(ctx, cfg.Bin, st)
			if err != nil {
				res.Errs = append(res.Errs, err)
				return nil
			}
			defer ns.stop() // after the node's own stop (deferred below, run first)
			natsURL = ns.url
		}
		one, err := startNodes(ctx, &cfg, 1, natsURL)
		if err != nil {
			res.Errs = append(res.Errs, err)
			return nil
		}
		defer one.stop()
		fmt.Fprintf(cfg.Log, "cluster: %d idle /chat users on %s\n", users, one.addrs[0])
		return keep(clusterBench(ctx, &cfg, name, []string{"connect", "-q", "--json", "-c", strconv.Itoa(users),
			"--hold", cfg.IdleHold.String(), "--url", "ws://" + one.addrs[0] + "/chat", "--server-pid", strconv.Itoa(one.pids[0])}))
	}

	// One node, no NATS: light then heavy, then fresh ones for idle memory.
	one, err := startNodes(ctx, &cfg, 1, "")
	if err != nil {
		return nil, err
	}
	warm("warmup-single", one.urls())
	res.LightSingle = keep(light("light-single", one.urls(), one.pids))
	res.Single = keep(heavy("single", one.urls(), one.pids))
	one.stop()

	// Idle memory on fresh nodes without and with --nats, in turn; then
	// NATS and the cluster.
	for i := range cfg.IdleRepeat {
		sfx := ""
		if i > 0 {
			sfx = "-" + strconv.Itoa(i+1)
		}
		loWithout := idle("idle-lo-without-nats"+sfx, cfg.IdleLo, false)
		loWith := idle("idle-lo-with-nats"+sfx, cfg.IdleLo, true)
		without := idle("idle-without-nats"+sfx, cfg.IdleConns, false)
		with := idle("idle-with-nats"+sfx, cfg.IdleConns, true)
		if i == 0 {
			res.IdleLoWithout, res.IdleLoWithNATS, res.IdleWithout, res.IdleWithNATS = loWithout, loWith, without, with
		}
		a, aok := idleSlope(loWithout, without)
		b, bok := idleSlope(loWith, with)
		if aok && bok {
			res.IdleSlopes = append(res.IdleSlopes, [2]float64{a, b})
		}
	}
	ns, err := startNATS(ctx, cfg.Bin, store)
	if err != nil {
		return nil, err
	}
	defer ns.stop()
	cl, err := startNodes(ctx, &cfg, cfg.Nodes, ns.url)
	if err != nil {
		return nil, err
	}
	defer cl.stop()
	pids := append(append([]int(nil), cl.pids...), ns.pid)
	warm("warmup-cluster", cl.urls())
	res.LightCluster = keep(light("light-cluster", cl.urls(), pids))
	res.Cluster = keep(heavy("cluster", cl.urls(), pids))
	return res, nil
}

// broadcastRun is one wsbench broadcast of the cluster run.
func broadcastRun(ctx context.Context, cfg *ClusterConfig, name, urls string, pids []int, conns, senders int, rate float64, d time.Duration) (*bench.Report, error) {
	p := make([]string, len(pids))
	for i, v := range pids {
		p[i] = strconv.Itoa(v)
	}
	args := []string{"broadcast", "-q", "--json", "-c", strconv.Itoa(conns),
		"--senders", strconv.Itoa(senders), "--rate", strconv.FormatFloat(rate, 'f', -1, 64),
		"--duration", d.String(), "--drain", cfg.Drain.String(), "--url", urls}
	if len(p) > 0 {
		args = append(args, "--server-pid", strings.Join(p, ","))
	}
	return clusterBench(ctx, cfg, name, args)
}

// clusterBench runs wsbench and saves its report as Reports/name.json.
func clusterBench(ctx context.Context, cfg *ClusterConfig, name string, args []string) (*bench.Report, error) {
	rep, raw, err := runBench(ctx, cfg.Bin, args)
	if cfg.Reports != "" && raw != nil {
		_ = os.MkdirAll(cfg.Reports, 0o755)
		_ = os.WriteFile(filepath.Join(cfg.Reports, name+".json"), raw, 0o644)
	}
	return rep, err
}

// nodeSet is node processes started one by one, each on its own port.
type nodeSet struct {
	addrs []string
	pids  []int
	procs []*cluster
}

func (s *nodeSet) urls() string {
	u := make([]string, len(s.addrs))
	for i, a := range s.addrs {
		u[i] = "ws://" + a
	}
	return strings.Join(u, ",")
}

func (s *nodeSet) stop() {
	for _, c := range s.procs {
		c.stop()
	}
	s.procs = nil
}

// startNodes starts n nodes, joined to natsURL unless it is empty, and
// waits until each says on /healthz that it is in the cluster.
func startNodes(ctx context.Context, cfg *ClusterConfig, n int, natsURL string) (*nodeSet, error) {
	s := &nodeSet{}
	for i := range n {
		var extra []string
		var metrics string
		if natsURL != "" {
			var err error
			if metrics, err = freePort(); err != nil {
				s.stop()
				return nil, err
			}
			extra = []string{"--nats", natsURL, "--node-id", fmt.Sprintf("bench%d", i+1), "--metrics-addr", metrics}
		}
		c, err := start(ctx, cfg.Bin, "wsnode", 1, extra...)
		if err != nil {
			s.stop()
			return nil, err
		}
		s.procs = append(s.procs, c)
		s.addrs = append(s.addrs, c.addr)
		s.pids = append(s.pids, c.pids[0])
		if metrics != "" {
			if err := waitHealthy(ctx, "http://"+metrics+"/healthz", 15*time.Second); err != nil {
				s.stop()
				return nil, fmt.Errorf("compare: node %d: %w", i+1, err)
			}
		}
	}
	return s, nil
}

// waitHealthy polls url until it answers 200.
func waitHealthy(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	cli := &http.Client{Timeout: time.Second}
	defer cli.CloseIdleConnections()
	for {
		if resp, err := cli.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not 200 after %v (not in the cluster)", url, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// natsProc is a nats-server process (built from the pinned module).
type natsProc struct {
	cmd *exec.Cmd
	pid int
	url string
}

// startNATS runs dir/nats-server with JetStream on a free loopback port,
// its store under store, and waits until it accepts connections.
func startNATS(ctx context.Context, dir, store string) (*natsProc, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(filepath.Join(dir, "nats-server"), "-a", host, "-p", port, "-js", "-sd", store)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("compare: start nats-server (make bench-cluster builds it into %s): %w", dir, err)
	}
	n := &natsProc{cmd: cmd, pid: cmd.Process.Pid, url: "nats://" + addr}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return n, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			n.stop()
			return nil, fmt.Errorf("compare: nats-server on %s not accepting after 15s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *natsProc) stop() {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = n.cmd.Process.Kill()
		<-done
	}
}

// clusterRow is one row of the cluster table.
type clusterRow struct {
	name          string
	unit          string
	lowerIsBetter bool
	single, clust func(*ClusterResult) *bench.Report
	get           func(*bench.Report) (float64, bool)
}

var (
	heavyPair = [2]func(*ClusterResult) *bench.Report{
		func(r *ClusterResult) *bench.Report { return r.Single }, func(r *ClusterResult) *bench.Report { return r.Cluster }}
	lightPair = [2]func(*ClusterResult) *bench.Report{
		func(r *ClusterResult) *bench.Report { return r.LightSingle }, func(r *ClusterResult) *bench.Report { return r.LightCluster }}
	idlePair = [2]func(*ClusterResult) *bench.Report{
		func(r *ClusterResult) *bench.Report { return r.IdleWithout }, func(r *ClusterResult) *bench.Report { return r.IdleWithNATS }}
)

func loss(r *bench.Report) (float64, bool) {
	if r.Messages == nil {
		return 0, false
	}
	return r.Messages.LossPct, true
}

func clusterRows() []clusterRow {
	row := func(name, unit string, lower bool, pair [2]func(*ClusterResult) *bench.Report, get func(*bench.Report) (float64, bool)) clusterRow {
		return clusterRow{name, unit, lower, pair[0], pair[1], get}
	}
	return []clusterRow{
		row("deliveries/s", "", false, heavyPair, perSec),
		row("loss", "%", true, heavyPair, loss),
		row("p99 delivery latency", "ms", true, heavyPair, p99ms),
		row("server CPU s per 1M deliveries (all nodes + NATS)", "s", true, heavyPair, cpuPerMillion),
		row("light load: p50 delivery latency", "ms", true, lightPair, func(r *bench.Report) (float64, bool) {
			if r.Latency == nil {
				return 0, false
			}
			return r.Latency.P50Us / 1000, true
		}),
		row("light load: p99 delivery latency", "ms", true, lightPair, p99ms),
		row("light load: loss", "%", true, lightPair, loss),
		row("idle /chat user: node RSS per connection at the larger size, fixed costs included (--nats off / on)", "B", true, idlePair, rssPerConn),
	}
}

// MarkdownCluster renders a cluster result: one row per figure, the single
// node, the cluster, their ratio (and the difference for latency and
// memory, which the targets are stated in).
func MarkdownCluster(w io.Writer, r *ClusterResult) {
	c := r.Config
	fmt.Fprintf(w, "Broadcast: %d users in one room, %d senders, %g msg/s in total (%s deliveries/s offered), %v (+%v drain); light load: %d users, %d senders, %g msg/s. Idle: %d and %d /chat users, each on a fresh node.\n\n",
		c.Conns, c.Senders, c.Rate, format(float64(c.Conns)*c.Rate, ""), c.Duration, c.Drain, c.LightConns, c.LightSenders, c.LightRate, c.IdleLo, c.IdleConns)
	fmt.Fprintf(w, "| figure | one node | NATS + %d nodes | cluster/single | cluster − single |\n|---|---:|---:|---:|---:|\n", c.Nodes)
	for _, row := range clusterRows() {
		name := row.name
		if row.lowerIsBetter {
			name += " (lower is better)"
		}
		if row.single(r) == nil && row.clust(r) == nil {
			continue
		}
		single, clust := "-", "-"
		var a, b float64
		var aok, bok bool
		if rep := row.single(r); rep != nil {
			if a, aok = row.get(rep); aok {
				single = format(a, row.unit)
			}
		}
		if rep := row.clust(r); rep != nil {
			if b, bok = row.get(rep); bok {
				clust = format(b, row.unit)
			}
		}
		ratio, diff := "-", "-"
		if aok && bok && a != 0 {
			ratio = fmt.Sprintf("%.2f", b/a)
		}
		if aok && bok && row.unit != "" && row.unit != "s" {
			diff = format(b-a, row.unit)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", name, single, clust, ratio, diff)
	}
	if slopes := r.IdleSlopes; len(slopes) > 0 {
		var off, on, diffs []float64
		for _, s := range slopes {
			off, on, diffs = append(off, s[0]), append(on, s[1]), append(diffs, s[1]-s[0])
		}
		a, b := median(off), median(on)
		name := fmt.Sprintf("idle /chat user: node RSS per connection, slope from %d to %d users (--nats off / on)", c.IdleLo, c.IdleConns)
		if len(slopes) > 1 {
			name += fmt.Sprintf(", medians of %d runs (difference: median of the paired differences)", len(slopes))
		}
		ratio := "-"
		if a != 0 {
			ratio = fmt.Sprintf("%.2f", b/a)
		}
		fmt.Fprintf(w, "| %s (lower is better) | %s | %s | %s | %s |\n", name, format(a, "B"), format(b, "B"), ratio, format(median(diffs), "B"))
		var each []string
		for _, s := range slopes {
			each = append(each, fmt.Sprintf("%s / %s", format(s[0], "B"), format(s[1], "B")))
		}
		fmt.Fprintf(w, "\nIdle slopes, each run (--nats off / on): %s.\n", strings.Join(each, ", "))
	}
	if rep := r.Cluster; rep != nil && len(rep.Nodes) > 0 {
		var per []string
		for _, n := range rep.Nodes {
			per = append(per, fmt.Sprintf("%d", n.OpenAtStart))
		}
		fmt.Fprintf(w, "\nCluster users per node: %s (so %d of %d deliveries cross nodes). ", strings.Join(per, " / "), len(per)-1, len(per))
		if m := rep.Messages; m != nil {
			fmt.Fprintf(w, "Deliveries: %d expected, %d received, %d lost, %d duplicated, %d extra.", m.Expected, m.Received, m.Lost, m.Duplicated, m.Extra)
		}
		fmt.Fprintln(w)
	}
	for _, err := range r.Errs {
		fmt.Fprintf(w, "\nfailed: %v\n", err)
	}
}

// median is the middle value of v (the mean of the middle two if even).
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// idleSlope is the node's RSS growth per connection from lo to hi: the
// fixed costs both sizes share cancel out.
func idleSlope(lo, hi *bench.Report) (float64, bool) {
	if lo == nil || hi == nil || len(lo.Servers) == 0 || len(hi.Servers) == 0 {
		return 0, false
	}
	n := hi.Conns.Connected - lo.Conns.Connected
	if n <= 0 {
		return 0, false
	}
	return float64(hi.Servers[0].RSSAfterBytes-lo.Servers[0].RSSAfterBytes) / float64(n), true
}
