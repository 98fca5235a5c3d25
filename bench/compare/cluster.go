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
	Rate     float64       // broadcasts/s, all senders together; if zero, 20 (1/s per sender)
	Duration time.Duration // send phase of each broadcast run; if zero, 10s
	// The light load, for latency: LightConns users, LightRate
	// broadcasts/s from LightSenders. If zero, 300, 10 and 10.
	LightConns   int
	LightSenders int
	LightRate    float64
	// IdleConns /chat users held IdleHold for the idle memory rows; if
	// zero, 10000 and 3s.
	IdleConns int
	IdleHold  time.Duration
	Log       io.Writer // progress; if nil, discarded
}

func (c *ClusterConfig) defaults() {
	set := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	if c.Bin == "" {
		c.Bin = "bin"
	}
	set(&c.Nodes, 3)
	set(&c.Conns, 6000)
	set(&c.Senders, 20)
	set(&c.LightConns, 300)
	set(&c.LightSenders, 10)
	set(&c.IdleConns, 10000)
	if c.Rate == 0 {
		c.Rate = 20
	}
	if c.LightRate == 0 {
		c.LightRate = 10
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.IdleHold == 0 {
		c.IdleHold = 3 * time.Second
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
}

// ClusterResult is what Cluster measured: each pair is one node, then the
// cluster (or, for Idle, the node without then with --nats). A failed run
// leaves its report nil and its error in Errs.
type ClusterResult struct {
	Config                    ClusterConfig
	Single, Cluster           *bench.Report // broadcast, Conns users
	LightSingle, LightCluster *bench.Report // broadcast, LightConns users
	IdleWithout, IdleWithNATS *bench.Report // connect, IdleConns /chat users
	Errs                      []error
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
	heavy := func(urls string, pids []int) (*bench.Report, error) {
		fmt.Fprintf(cfg.Log, "cluster: broadcast, %d users, %d senders, %g msg/s on %s\n", cfg.Conns, cfg.Senders, cfg.Rate, urls)
		return broadcastRun(ctx, &cfg, urls, pids, cfg.Conns, cfg.Senders, cfg.Rate)
	}
	light := func(urls string, pids []int) (*bench.Report, error) {
		fmt.Fprintf(cfg.Log, "cluster: light broadcast, %d users, %d senders, %g msg/s on %s\n", cfg.LightConns, cfg.LightSenders, cfg.LightRate, urls)
		return broadcastRun(ctx, &cfg, urls, pids, cfg.LightConns, cfg.LightSenders, cfg.LightRate)
	}
	idle := func(url string, pid int) (*bench.Report, error) {
		fmt.Fprintf(cfg.Log, "cluster: %d idle /chat users on %s\n", cfg.IdleConns, url)
		rep, _, err := runBench(ctx, cfg.Bin, []string{"connect", "-q", "--json", "-c", strconv.Itoa(cfg.IdleConns),
			"--hold", cfg.IdleHold.String(), "--url", url + "/chat", "--server-pid", strconv.Itoa(pid)})
		return rep, err
	}

	// One node, no NATS: light then heavy, then a fresh one for idle memory.
	one, err := startNodes(ctx, &cfg, 1, "")
	if err != nil {
		return nil, err
	}
	res.LightSingle = keep(light(one.urls(), one.pids))
	res.Single = keep(heavy(one.urls(), one.pids))
	one.stop()
	if one, err = startNodes(ctx, &cfg, 1, ""); err != nil {
		return nil, err
	}
	res.IdleWithout = keep(idle("ws://"+one.addrs[0], one.pids[0]))
	one.stop()

	// NATS, one node with --nats for idle memory, then the cluster.
	ns, err := startNATS(ctx, cfg.Bin, store)
	if err != nil {
		return nil, err
	}
	defer ns.stop()
	if one, err = startNodes(ctx, &cfg, 1, ns.url); err != nil {
		return nil, err
	}
	res.IdleWithNATS = keep(idle("ws://"+one.addrs[0], one.pids[0]))
	one.stop()
	cl, err := startNodes(ctx, &cfg, cfg.Nodes, ns.url)
	if err != nil {
		return nil, err
	}
	defer cl.stop()
	pids := append(append([]int(nil), cl.pids...), ns.pid)
	res.LightCluster = keep(light(cl.urls(), pids))
	res.Cluster = keep(heavy(cl.urls(), pids))
	return res, nil
}

// broadcastRun is one wsbench broadcast of the cluster run.
func broadcastRun(ctx context.Context, cfg *ClusterConfig, urls string, pids []int, conns, senders int, rate float64) (*bench.Report, error) {
	p := make([]string, len(pids))
	for i, v := range pids {
		p[i] = strconv.Itoa(v)
	}
	rep, _, err := runBench(ctx, cfg.Bin, []string{"broadcast", "-q", "--json", "-c", strconv.Itoa(conns),
		"--senders", strconv.Itoa(senders), "--rate", strconv.FormatFloat(rate, 'f', -1, 64),
		"--duration", cfg.Duration.String(), "--url", urls, "--server-pid", strings.Join(p, ",")})
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
		row("light load: p99 delivery latency", "ms", true, lightPair, p99ms),
		row("light load: loss", "%", true, lightPair, loss),
		row("idle /chat user: node RSS per connection (--nats off / on)", "B", true, idlePair, rssPerConn),
	}
}

// MarkdownCluster renders a cluster result: one row per figure, the single
// node, the cluster, their ratio (and the difference for latency and
// memory, which the targets are stated in).
func MarkdownCluster(w io.Writer, r *ClusterResult) {
	c := r.Config
	fmt.Fprintf(w, "Broadcast: %d users in one room, %d senders, %g msg/s in total (%s deliveries/s offered), %v; light load: %d users, %d senders, %g msg/s. Idle: %d /chat users.\n\n",
		c.Conns, c.Senders, c.Rate, format(float64(c.Conns)*c.Rate, ""), c.Duration, c.LightConns, c.LightSenders, c.LightRate, c.IdleConns)
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
	if rep := r.Cluster; rep != nil && len(rep.Nodes) > 0 {
		var per []string
		for _, n := range rep.Nodes {
			per = append(per, fmt.Sprintf("%d", n.OpenAtStart))
		}
		fmt.Fprintf(w, "\nCluster users per node: %s (so %d of %d deliveries cross nodes). ", strings.Join(per, " / "), len(per)-1, len(per))
		if m := rep.Messages; m != nil {
			fmt.Fprintf(w, "Deliveries: %d expected, %d received, %d lost, %d extra.", m.Expected, m.Received, m.Lost, m.Extra)
		}
		fmt.Fprintln(w)
	}
	for _, err := range r.Errs {
		fmt.Fprintf(w, "\nfailed: %v\n", err)
	}
}
