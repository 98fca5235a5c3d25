package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"edgews/engine"
	"edgews/hub/cluster"
	"github.com/prometheus/client_golang/prometheus"
)

// clusterFlags are the --nats* and --cluster-* flags.
type clusterFlags struct {
	urls, name, nodeID   string
	ttl                  time.Duration
	replicas             int
	embed, store, routes string
	embedCluster         string
}

func addClusterFlags(fs *flag.FlagSet, c *clusterFlags) []string {
	fs.StringVar(&c.urls, "nats", "", "join the cluster on these NATS servers, comma-separated (nats://host:4222,...); empty = a single node (or the --nats-embed server)")
	fs.StringVar(&c.name, "cluster-name", cluster.DefaultName, "the chat's subject prefix and bucket names, so that several chats can share one NATS")
	fs.StringVar(&c.nodeID, "node-id", "", "this node's id in the cluster, unique among live nodes (empty = hostname-pid)")
	fs.DurationVar(&c.ttl, "cluster-ttl", cluster.DefaultTTL, "how long a node that died without a goodbye keeps its users' names and its place in counts and rosters")
	fs.IntVar(&c.replicas, "cluster-replicas", 1, "JetStream replicas of the names and liveness buckets (3 on a three-server NATS cluster)")
	fs.StringVar(&c.embed, "nats-embed", "", "run an embedded nats-server with JetStream on HOST:PORT (the node joins it unless --nats is set)")
	fs.StringVar(&c.store, "nats-store", "", "JetStream storage directory of --nats-embed, created if missing (empty = $XDG_STATE_HOME/wsnode/nats-PORT, or ~/.local/state/wsnode/nats-PORT)")
	fs.StringVar(&c.routes, "nats-routes", "", "nats-route://host:port URLs of other embedding nodes, comma-separated: the embedded servers form one NATS cluster")
	fs.StringVar(&c.embedCluster, "nats-cluster-addr", "", "HOST:PORT the embedded server listens on for --nats-routes (empty = --nats-embed's port + 1)")
	return []string{"nats", "cluster-name", "node-id", "cluster-ttl", "cluster-replicas", "nats-embed", "nats-store", "nats-routes", "nats-cluster-addr"}
}

// clustered is what a node started with --nats or --nats-embed runs
// besides the chat.
type clustered struct {
	node     *cluster.Node     // nil: a single node
	history  *cluster.History  // nil: no --history-shared
	embedded *cluster.Embedded // nil: no embedded server
	latency  prometheus.Histogram
	stopped  sync.Once
}

// start starts the embedded server, if any, and joins the cluster, if
// any. NATS unreachable is not an error: the node retries in the
// background.
func (c *clusterFlags) start(logger *slog.Logger, getenv func(string) string) (*clustered, error) {
	cl := &clustered{}
	urls := c.urls
	if c.embed != "" {
		store := c.store
		if store == "" {
			store = defaultNatsStore(c.embed, getenv)
		}
		// Created here so that a path the user cannot write is an error
		// naming the flag, before nats-server is started.
		if err := os.MkdirAll(store, 0o700); err != nil {
			return nil, fmt.Errorf("--nats-store %s: %w (give a directory this user can write)", store, err)
		}
		var routes []string
		for _, r := range strings.Split(c.routes, ",") {
			if r = strings.TrimSpace(r); r != "" {
				routes = append(routes, r)
			}
		}
		e, err := cluster.Embed(cluster.EmbedConfig{
			Addr: c.embed, StoreDir: store, Routes: routes, ClusterAddr: c.embedCluster,
			Name: c.nodeID, ClusterName: c.name, Logger: logger,
		})
		if err != nil {
			return nil, err
		}
		cl.embedded = e
		logger.Info("embedded nats-server", "url", e.URL(), "store", store, "routes", len(routes))
		if urls == "" {
			urls = e.URL()
		}
	} else if c.routes != "" {
		return nil, fmt.Errorf("--nats-routes needs --nats-embed")
	}
	if urls == "" {
		return cl, nil
	}
	cl.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "wsnode_cluster_registry_seconds", Help: "Duration of registry calls to JetStream (name claims, updates, releases).",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	})
	node, err := cluster.New(cluster.Config{
		URLs: urls, Name: c.name, NodeID: c.nodeID, TTL: c.ttl, Replicas: c.replicas,
		ObserveRegistry: func(d time.Duration) { cl.latency.Observe(d.Seconds()) },
		Logger:          logger,
	})
	if err != nil {
		cl.stop(context.Background())
		return nil, err
	}
	cl.node = node
	logger.Info("cluster", "nats", urls, "name", c.name, "node", node.ID(), "ttl", c.ttl)
	return cl, nil
}

// defaultNatsStore is --nats-store when not given: a directory of the
// user's state (XDG Base Directory), one per --nats-embed port so that
// several embedding nodes on one machine keep apart; under the temporary
// directory when there is no home.
func defaultNatsStore(embed string, getenv func(string) string) string {
	dir := "nats"
	if _, port, err := net.SplitHostPort(embed); err == nil {
		dir = "nats-" + port
	}
	if s := getenv("XDG_STATE_HOME"); filepath.IsAbs(s) {
		return filepath.Join(s, "wsnode", dir)
	}
	if h := getenv("HOME"); filepath.IsAbs(h) {
		return filepath.Join(h, ".local", "state", "wsnode", dir)
	}
	return filepath.Join(os.TempDir(), "wsnode-"+strconv.Itoa(os.Getuid()), dir)
}

// stop says goodbye to the cluster (after the drain: the users' names are
// released), within ctx's deadline plus cluster.CloseMargin, and stops the
// embedded server. Only the first call does.
func (cl *clustered) stop(ctx context.Context) {
	cl.stopped.Do(func() {
		if cl.node != nil {
			_ = cl.node.Close(ctx)
		}
		if cl.embedded != nil {
			cl.embedded.Shutdown()
		}
	})
}

// healthy adds the cluster to health: 503 "cluster unavailable" while a
// clustered node is not connected and set up, "shared history
// unavailable" while its shared history has no consumer (messages are
// stored, none delivered).
func (cl *clustered) health(srv *engine.Server) engine.Response {
	r := health(srv)
	switch {
	case r.Status != http.StatusOK:
	case cl.node != nil && !cl.node.Healthy():
		return engine.Response{Status: http.StatusServiceUnavailable, Body: []byte("cluster unavailable\n")}
	case cl.history != nil && !cl.history.Consuming():
		return engine.Response{Status: http.StatusServiceUnavailable, Body: []byte("shared history unavailable\n")}
	}
	return r
}

// clusterCollector exports the cluster's counters.
type clusterCollector struct {
	cl                                          *clustered
	connected, healthy, reconnects, out, in     *prometheus.Desc
	pubDropped, inDropped, ops, opErrors, users *prometheus.Desc
	conflicts, staleFreed, claimsBusy           *prometheus.Desc
	queued, regDropped, janitorSkipped, pending *prometheus.Desc
}

func newClusterCollector(cl *clustered) *clusterCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("wsnode_cluster_"+name, help, labels, nil)
	}
	return &clusterCollector{
		cl:             cl,
		connected:      d("nats_connected", "1 while the NATS connection is up."),
		healthy:        d("healthy", "1 while connected and the registry is set up."),
		reconnects:     d("nats_reconnects_total", "Reconnections to NATS."),
		out:            d("messages_out_total", "Messages published to other nodes (one per broadcast or whisper)."),
		in:             d("messages_in_total", "Messages received from other nodes."),
		pubDropped:     d("messages_dropped_out_total", "Messages not published: queue full or NATS refused them."),
		inDropped:      d("messages_dropped_in_total", "Messages from other nodes dropped: this node did not keep up (NATS slow consumer, or an event loop with its backlog of tasks waiting)."),
		ops:            d("registry_calls_total", "Registry calls to JetStream."),
		opErrors:       d("registry_errors_total", "Registry calls that failed (timeouts, outages)."),
		users:          d("remote_users", "Users on the other nodes, as this node sees them."),
		conflicts:      d("name_conflicts_total", "Names held here found held by another node in the registry (after an outage, or after leaving the registry); anonymous holders renamed, tokens' names reserved."),
		staleFreed:     d("stale_names_freed_total", "Names of dead nodes, and this node's own that no user held, deleted from the registry."),
		claimsBusy:     d("claims_busy_total", "Name claims refused (name_unavailable) because the registry failed while NATS was up."),
		queued:         d("registry_queued", "Registry calls waiting for the workers."),
		pending:        d("registry_pending", "Names kept to write or delete once the registry answers (granted while it was unavailable, updates and releases that failed)."),
		regDropped:     d("registry_dropped_total", "Registry calls not made, by reason: queue_full (refused: claims answered busy), gone (claims and updates of names released since: the connection left).", "reason"),
		janitorSkipped: d("janitor_skipped_total", "Janitor rounds that could not read every node's liveness key (an error, a timeout, or out of time): those nodes are not taken for gone that round."),
	}
}

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
	c.cl.latency.Describe(ch)
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.cl.node
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	st := n.Stats()
	gauge(c.connected, b(n.Connected()))
	gauge(c.healthy, b(n.Healthy()))
	counter(c.reconnects, st.Reconnects.Load())
	counter(c.out, st.MsgsOut.Load())
	counter(c.in, st.MsgsIn.Load())
	counter(c.pubDropped, st.PubDropped.Load())
	counter(c.inDropped, st.InDropped.Load())
	counter(c.ops, st.RegistryOps.Load())
	counter(c.opErrors, st.RegistryErrors.Load())
	gauge(c.users, float64(n.Users()))
	counter(c.conflicts, st.Conflicts.Load())
	counter(c.staleFreed, st.StaleFreed.Load())
	counter(c.claimsBusy, st.ClaimsBusy.Load())
	gauge(c.queued, float64(st.RegistryQueued.Load()))
	gauge(c.pending, float64(n.RegistryPending()))
	ch <- prometheus.MustNewConstMetric(c.regDropped, prometheus.CounterValue, float64(st.RegistryDropped.Load()), "queue_full")
	ch <- prometheus.MustNewConstMetric(c.regDropped, prometheus.CounterValue, float64(st.RegistryGone.Load()), "gone")
	counter(c.janitorSkipped, st.JanitorSkipped.Load())
	c.cl.latency.Collect(ch)
}
