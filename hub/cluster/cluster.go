package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"edgews/hub"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults used for the zero fields of Config.
const (
	DefaultName         = "edgews"
	DefaultTTL          = 15 * time.Second
	DefaultQueueLen     = 1 << 16
	DefaultOpTimeout    = 2 * time.Second
	DefaultReconnectBuf = 8 << 20

	DefaultRegistryQueue      = 1 << 14 // registry calls waiting, node-wide
	DefaultRegistryQueueBytes = 4 << 20 // their bytes, node-wide

	workers = 4 // registry worker goroutines
)

// CloseMargin is how long Node.Close may take past its context's deadline,
// whatever NATS does: to stop the node's goroutines, flush, delete its
// liveness key and close the connection, each step bounded.
const CloseMargin = time.Second

// Config configures a Node. The zero value needs URLs only.
type Config struct {
	// URLs is the NATS server list, comma-separated
	// ("nats://10.0.0.1:4222,nats://10.0.0.2:4222"). Required.
	URLs string
	// Name prefixes the subjects and names the buckets, so that several
	// chats can share one NATS: 1-32 of [A-Za-z0-9_-]. If empty,
	// DefaultName.
	Name string
	// NodeID names this node in the cluster; it must be unique among the
	// live nodes. Characters outside [A-Za-z0-9_-] become '_'. If empty,
	// the host name and the process id.
	NodeID string
	// TTL is how long a node that died without a goodbye keeps its names
	// and its place in counts and rosters. If zero, DefaultTTL.
	TTL time.Duration
	// QueueLen bounds the messages waiting for the publisher goroutine,
	// and the arrivals waiting for the hub; beyond it they are dropped and
	// counted. If zero, DefaultQueueLen.
	QueueLen int
	// OpTimeout bounds one registry call; a call that times out counts as
	// the cluster being unavailable. If zero, DefaultOpTimeout.
	OpTimeout time.Duration
	// RegistryQueue bounds the registry calls (claims, updates, releases)
	// waiting for the workers, in entries, and RegistryQueueBytes in bytes
	// (names and rooms included). Past either, a claim is refused as busy
	// at once and an update or a release is dropped (Stats.RegistryDropped):
	// the registry is set up again once it answers, which writes what the
	// hub holds and deletes this node's entries it no longer does. If
	// zero, DefaultRegistryQueue and DefaultRegistryQueueBytes.
	RegistryQueue      int
	RegistryQueueBytes int
	// ReconnectBuf is nats.go's buffer for messages published while
	// reconnecting, in bytes. If zero, DefaultReconnectBuf; negative: none
	// (such messages are dropped at once).
	ReconnectBuf int
	// Replicas is how many copies JetStream keeps of the names and
	// liveness buckets (3 on a three-server NATS cluster). If zero, 1.
	// It applies when the buckets are created.
	Replicas int
	// ObserveRegistry, if not nil, is called with the duration of every
	// registry call (claims, updates, releases), from a worker goroutine.
	ObserveRegistry func(time.Duration)
	// Logger receives connection changes and registry problems, never
	// anything per message. If nil, logs are discarded.
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.URLs == "" {
		return c, errors.New("cluster: no NATS URL")
	}
	if c.Name == "" {
		c.Name = DefaultName
	}
	if !validToken(c.Name) {
		return c, fmt.Errorf("cluster: invalid cluster name %q: use 1-32 letters, digits, _ or -", c.Name)
	}
	if c.NodeID == "" {
		host, _ := os.Hostname()
		c.NodeID = host + "-" + strconv.Itoa(os.Getpid())
	}
	c.NodeID = sanitize(c.NodeID)
	if c.TTL <= 0 {
		c.TTL = DefaultTTL
	}
	if c.QueueLen <= 0 {
		c.QueueLen = DefaultQueueLen
	}
	if c.OpTimeout <= 0 {
		c.OpTimeout = DefaultOpTimeout
	}
	if c.RegistryQueue <= 0 {
		c.RegistryQueue = DefaultRegistryQueue
	}
	if c.RegistryQueueBytes <= 0 {
		c.RegistryQueueBytes = DefaultRegistryQueueBytes
	}
	if c.ReconnectBuf == 0 {
		c.ReconnectBuf = DefaultReconnectBuf
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Stats are the node's cluster counters, for metrics.
type Stats struct {
	MsgsOut        atomic.Int64 // messages published to other nodes
	MsgsIn         atomic.Int64 // messages received from other nodes
	PubDropped     atomic.Int64 // messages not published: queue full, or NATS refused them
	InDropped      atomic.Int64 // arrivals dropped: this node did not keep up (NATS slow consumer, or an event loop behind: hub.Config.ClusterBacklog)
	Reconnects     atomic.Int64 // reconnections to NATS
	RegistryOps    atomic.Int64 // registry calls made
	RegistryErrors atomic.Int64 // registry calls that failed (timeouts, outages)
	ClaimsBusy     atomic.Int64 // claims refused because the registry failed while the cluster was up
	Conflicts      atomic.Int64 // names held here found another node's after an outage (anonymous holders renamed, tokens' names reserved)
	StaleFreed     atomic.Int64 // names of dead nodes, and this node's own that no user holds, freed

	RegistryQueued  atomic.Int64 // registry calls waiting for the workers (a gauge)
	RegistryDropped atomic.Int64 // registry calls not queued: the queue was full (Config.RegistryQueue)
	RegistryGone    atomic.Int64 // claims and updates not made: their name was released since (the connection left)
	JanitorSkipped  atomic.Int64 // janitor rounds that could not read every node's liveness key (an error, a timeout, or out of time): those nodes are not freed that round
}

// Node is this node's membership of a cluster. It implements hub.Cluster.
type Node struct {
	cfg   Config
	log   *slog.Logger
	nc    *nats.Conn
	js    jetstream.JetStream
	recv  hub.Receiver
	stats Stats

	roomPrefix, nodePrefix string // "NAME.room.", "NAME.node."
	allSubject             string // "NAME.all": every node (whispers, see SendAll)
	inbox                  string // the reply subjects' prefix of name creates (create.go); "" if not subscribed

	pub      chan *pubJob   // to the publisher goroutine
	arrivals chan *nats.Msg // from NATS to the hub

	// ctx is the parent of every NATS call's context: Close cancels it,
	// so that no goroutine waits out a call after the deadline.
	ctx    context.Context
	cancel context.CancelFunc

	subMu      sync.Mutex
	want       map[string]bool         // room -> subscribed wanted, since the last reconcile; guarded by subMu
	subscribed map[string]bool         // rooms subscribed, as the server knows; guarded by subMu
	inflight   map[string]bool         // the want being reconciled; guarded by subMu
	waiters    map[string][]hub.Waiter // WhenSubscribed callbacks by room; guarded by subMu
	subKick    chan struct{}           // wakes the publisher to reconcile subscriptions

	reg       [workers]*worker
	kv        atomic.Pointer[buckets] // nil until the buckets are set up
	ready     atomic.Bool             // connected and set up
	setupSig  chan struct{}           // (re)connected: set up again
	needSetup atomic.Bool             // registry work was dropped (a full queue or map): set up again once the registry answers
	v         view
	stale     []staleName     // the janitor's names of gone nodes left to delete (supervisor only)
	unrel     unreleasedNames // Close's report
	api       *control        // the server API's part on this node (api.go); nil without a *hub.Hub

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

type buckets struct {
	names, nodes jetstream.KeyValue
}

var _ hub.Cluster = (*Node)(nil)

// New connects to NATS (retrying in the background if it is unreachable)
// and returns the node; it starts working once hub.New attaches it. It
// fails only on a bad Config.
func New(cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg: cfg, log: cfg.Logger.With("node", cfg.NodeID),
		roomPrefix: cfg.Name + ".room.", nodePrefix: cfg.Name + ".node.", allSubject: cfg.Name + ".all",
		pub:        make(chan *pubJob, cfg.QueueLen),
		arrivals:   make(chan *nats.Msg, cfg.QueueLen),
		want:       make(map[string]bool),
		subscribed: make(map[string]bool),
		waiters:    make(map[string][]hub.Waiter),
		subKick:    make(chan struct{}, 1),
		setupSig:   make(chan struct{}, 1),
		stop:       make(chan struct{}),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.v.init(cfg.NodeID)
	for i := range n.reg {
		n.reg[i] = newWorker(n, i)
	}
	kick := n.kick
	n.nc, err = nats.Connect(cfg.URLs,
		nats.Name("wsnode "+cfg.NodeID),
		nats.NoEcho(),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectBufSize(cfg.ReconnectBuf),
		nats.ConnectHandler(func(*nats.Conn) { n.log.Info("cluster: connected"); kick() }),
		nats.ReconnectHandler(func(c *nats.Conn) {
			n.stats.Reconnects.Add(1)
			n.log.Info("cluster: reconnected", "url", c.ConnectedUrlRedacted())
			kick()
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			n.ready.Store(false)
			if !n.closing() {
				n.log.Warn("cluster: disconnected from NATS; serving local chat, retrying", "err", err)
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				n.stats.InDropped.Add(1)
				return
			}
			n.log.Warn("cluster: NATS error", "err", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if n.js, err = jetstream.New(n.nc); err != nil {
		n.nc.Close()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if n.nc.IsConnected() {
		kick()
	} else {
		n.log.Warn("cluster: NATS unreachable; serving local chat, retrying", "urls", cfg.URLs)
	}
	return n, nil
}

// Attach implements hub.Cluster: it starts the node's goroutines.
func (n *Node) Attach(r hub.Receiver) {
	n.recv = r
	if _, err := n.nc.ChanSubscribe(n.nodePrefix+n.cfg.NodeID, n.arrivals); err != nil {
		n.log.Error("cluster: subscribe", "err", err)
	}
	if _, err := n.nc.ChanSubscribe(n.allSubject, n.arrivals); err != nil {
		n.log.Error("cluster: subscribe", "err", err)
	}
	if err := n.createInbox(); err != nil {
		n.inbox = "" // creates go through KeyValue.Create
		n.log.Error("cluster: subscribe", "err", err)
	}
	n.goRun(n.publisher)
	n.goRun(n.receiver)
	n.goRun(n.supervise)
	n.goRun(n.heartbeat)
	n.attachControl(r)
	for _, w := range n.reg {
		n.goRun(w.run)
	}
}

// kick asks the supervisor to set the registry up again.
func (n *Node) kick() {
	select {
	case n.setupSig <- struct{}{}:
	default:
	}
}

func (n *Node) goRun(f func()) {
	n.wg.Add(1)
	go func() { defer n.wg.Done(); f() }()
}

// ID is the node's id in the cluster.
func (n *Node) ID() string { return n.cfg.NodeID }

// Stats returns the node's live counters.
func (n *Node) Stats() *Stats { return &n.stats }

// Connected reports whether the NATS connection is up.
func (n *Node) Connected() bool { return n.nc.IsConnected() }

// Healthy reports whether the node is connected and its registry is set
// up: while false, users of other nodes are not seen and names are unique
// on this node only.
func (n *Node) Healthy() bool { return n.ready.Load() && n.nc.IsConnected() }

func (n *Node) closing() bool {
	select {
	case <-n.stop:
		return true
	default:
		return false
	}
}

// Close says goodbye: it waits (up to ctx) for the registry calls queued
// so far (the releases of a drained node's users), then stops the node's
// goroutines, publishes what is queued, deletes the node's liveness key
// and closes the connection, within CloseMargin past ctx's deadline
// whatever NATS does. The names it could not release are logged: the
// other nodes free them within the TTL (the liveness key is gone, or
// expires). Call it after the hub's connections are closed.
func (n *Node) Close(ctx context.Context) error {
	if n.closing() {
		return nil // closed already
	}
	var err error
	for _, w := range n.reg {
		if e := w.wait(ctx); e != nil && err == nil {
			err = fmt.Errorf("cluster: close: %w", e)
		}
	}
	end := time.Now().Add(CloseMargin)
	n.stopOnce.Do(func() { close(n.stop); n.cancel() })
	stopped := make(chan struct{})
	go func() { n.wg.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(CloseMargin / 4):
		n.log.Warn("cluster: close: goroutines still in NATS calls; closing the connection under them")
	}
	n.unrel.mu.Lock()
	if n.unrel.count > 0 {
		n.log.Warn("cluster: close: names not released in the registry (the other nodes free them within the TTL)",
			"count", n.unrel.count, "names", strings.Join(n.unrel.names, " "))
	}
	n.unrel.mu.Unlock()
	if n.nc.IsConnected() {
		gctx, cancel := context.WithDeadline(context.Background(), end.Add(-CloseMargin/4))
		_ = n.nc.FlushWithContext(gctx)
		if b := n.kv.Load(); b != nil {
			_ = b.nodes.Delete(gctx, n.cfg.NodeID)
		}
		cancel()
	}
	// nats.go's Close flushes under the connection's lock, which a
	// publish blocked on a stalled socket holds: bounded here, the rest is
	// left to its write timeout.
	closed := make(chan struct{})
	go func() { n.nc.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(time.Until(end)):
		n.log.Warn("cluster: close: NATS connection still flushing; left to finish")
	}
	return err
}

// validToken reports whether s is a safe subject token and bucket name.
func validToken(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	return sanitize(s) == s
}

// sanitize replaces what is not [A-Za-z0-9_-] with '_'.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, s)
}
