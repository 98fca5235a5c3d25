package hub

import (
	"hash/maphash"
	"log/slog"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"edgews/engine"
	"edgews/hub/auth"
)

// Defaults used for the zero fields of Config.
const (
	DefaultShards     = 16   // registry shards
	DefaultMaxLine    = 4096 // bytes of chat text in one message, /me or whisper
	DefaultBurst      = 10   // messages accepted at once when Rate is set
	DefaultMaxStrikes = 10   // consecutive refused messages before close 1008

	DefaultClusterBacklog = 8192 // tasks waiting for a loop before other nodes' messages are dropped for it

	// ChatSizeFactor sets /chat's default frame and message limit: this
	// many times MaxLine (16 KiB for the default MaxLine), room for a JSON
	// envelope and escaped characters around a line of MaxLine bytes, so a
	// chat connection cannot make the node hold megabytes.
	ChatSizeFactor = 4
)

// Config configures a Hub. The zero value works: every field documents what
// zero means.
type Config struct {
	// Shards is the number of shards of the name and room registries.
	// If zero, DefaultShards.
	Shards int
	// MaxLine bounds the text of one chat message, /me action or whisper, in
	// bytes; a longer one is not sent and its sender gets an error line.
	// If zero, DefaultMaxLine.
	MaxLine int
	// MaxMessage bounds a /chat frame, and a whole fragmented /chat message,
	// in bytes; a larger one closes the connection with 1009 as soon as its
	// header arrives (a line of at most MaxLine bytes that is longer only
	// in its framing gets an error line instead). It never exceeds the
	// server's MaxFrameSize and MaxMessageSize, which /echo keeps.
	// If zero, ChatSizeFactor × MaxLine.
	MaxMessage int64
	// Rate is how many messages per second (commands included) one
	// connection may send, sustained; messages over it are dropped with an
	// error line. If zero, there is no limit (the tutorial's behaviour);
	// cmd/wsnode sets one.
	Rate float64
	// Burst is how many messages may arrive at once on an idle connection
	// before Rate applies. If zero, DefaultBurst. Unused when Rate is zero.
	Burst int
	// MaxStrikes is how many consecutive messages over the rate limit close
	// the connection with 1008 (policy violation). If zero, DefaultMaxStrikes;
	// at most 65535.
	MaxStrikes int
	// Auth verifies connect tokens (see hub/auth): with its Mode Optional or
	// Required, /chat and /echo check the token of every upgrade, names
	// come from tokens and are reserved, the rooms claim limits /join, and
	// a connection whose token expires is closed with 1008. If nil, every
	// user is anonymous.
	Auth *auth.Verifier
	// AuthNameHold is how long after a token's last use (connect, refresh
	// or disconnect) its name stays reserved against anonymous users
	// (Mode Optional); against other tokens' /nick it is reserved while
	// the token could be valid (see reserve.go). If zero,
	// DefaultAuthNameHold; negative: only while the name is held.
	AuthNameHold time.Duration
	// AuthNameHolds bounds the names reserved that way on the node; past
	// it, the least recently used goes. If zero, DefaultAuthNameHolds.
	AuthNameHolds int
	// History is how many messages (chat lines and /me actions) each room
	// keeps, sent to JSON clients when they enter a room and to anyone on
	// /history; it also gives JSON message events their "offset" and
	// "epoch". If zero, there is no history (nor offsets); cmd/wsnode sets
	// 50.
	History int
	// HistoryTTL is how long a message is kept. If zero, DefaultHistoryTTL.
	// Unused when History is zero.
	HistoryTTL time.Duration
	// HistoryMaxBytes bounds the memory of all rooms' history on the node;
	// the oldest messages go first. If zero, DefaultHistoryMaxBytes.
	// Unused when History is zero or HistoryStore is set.
	HistoryMaxBytes int64
	// HistoryRoomMaxBytes bounds one room's history, and one connection's
	// messages in all rooms' history, so that HistoryMaxBytes is shared:
	// the room's oldest go first, and a connection's messages over it are
	// delivered but not kept (without an offset). If zero,
	// HistoryMaxBytes/HistoryShares. Unused as HistoryMaxBytes is.
	HistoryRoomMaxBytes int64
	// HistoryStore keeps the history. If nil (and History is set), a
	// MemoryHistory; a cluster passes a store shared by its nodes.
	HistoryStore History

	// Cluster joins the hub to the other nodes of a cluster (hub/cluster
	// implements it over NATS). If nil, the hub is a single node and runs
	// no cluster code.
	Cluster Cluster
	// Sequencer, with History set, keeps the history in the cluster
	// instead of on this node: offsets and epochs shared by all nodes
	// (hub/cluster's JetStream history; see Sequencer). The node then
	// keeps a MemoryHistory mirror of it (History, HistoryTTL and
	// HistoryMaxBytes apply to the mirror; HistoryStore is unused). If
	// nil, each node keeps its own history.
	Sequencer Sequencer
	// ClusterBacklog is how many tasks an event loop may have waiting
	// before messages from other nodes (room events, whispers, stored
	// messages) are dropped for it instead of queued: a loop that falls
	// behind drops what arrives from the cluster (Receiver.Receive and
	// ReceiveStored report it, the Cluster counts it) rather than growing
	// its queue without bound. What the loop's own connections cause is
	// never dropped. If zero, DefaultClusterBacklog.
	ClusterBacklog int

	// Backend connects the hub to the application's backend: the node's
	// name, the events it sends out (see BackendConfig). The zero value
	// sends none; the server API (Control) works either way.
	Backend BackendConfig

	// Logger receives the hub's logs: a connection closed for flooding, at
	// debug (Stats.RateKicks counts them), nothing per message. If nil,
	// logs are discarded.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Shards <= 0 {
		c.Shards = DefaultShards
	}
	if c.MaxLine <= 0 {
		c.MaxLine = DefaultMaxLine
	}
	if c.MaxMessage <= 0 {
		c.MaxMessage = ChatSizeFactor * int64(c.MaxLine)
	}
	if c.Burst <= 0 {
		c.Burst = DefaultBurst
	}
	if c.MaxStrikes <= 0 {
		c.MaxStrikes = DefaultMaxStrikes
	}
	if c.ClusterBacklog <= 0 {
		c.ClusterBacklog = DefaultClusterBacklog
	}
	c.MaxStrikes = min(c.MaxStrikes, math.MaxUint16) // Member.strikes is a uint16
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Hub is the chat node's shared state.
type Hub struct {
	srv   *engine.Server
	cfg   Config
	chat  *chat
	cl    Cluster      // nil: a single node
	seqr  Sequencer    // nil: history (if any) kept by this node
	names []*shard     // name registry, by folded-name hash
	holds *nameHolds   // names tokens have used; nil with auth off
	rooms []*roomShard // room registry, by room-name hash
	seed  maphash.Seed
	hist  History // nil: no history
	z     *deflaters

	// Rate limit in GCRA form (see limiter): nanoseconds per message and
	// how far ahead of the clock a connection may run. interval 0: no limit.
	interval, tolerance int64
	rateText            string // "5/s, burst 10", for the error line
	start               time.Time
	clock               func() time.Duration // since start; tests replace it

	maxFrame, maxMessage int64 // /chat's limits: MaxMessage within the server's

	// histBudget bounds a history event, and a /history answer to a text
	// client: a quarter of the server's MaxOutboundBytes, so that history
	// is never what makes a reader slow, and leaves room for the live
	// messages after it.
	histBudget int

	be backend // the application's backend: bans, mutes, events (backend.go)

	users    atomic.Int64  // connected chat users, all loops
	nextName atomic.Uint64 // user0, user1, ...
	seq      atomic.Uint64 // roster versions, increasing node-wide
	stats    Stats
}

// Stats are the hub's counters. They are atomics updated once per loop
// task or per refused message, not per delivery, so counting costs nothing
// on the message path; metrics exporters read them.
type Stats struct {
	Broadcasts  atomic.Int64 // messages and notices fanned out to a room
	Deliveries  atomic.Int64 // frames queued to recipients
	Whispers    atomic.Int64 // private messages delivered to their target's connections on this node (in a cluster, counted on each node that has some)
	RateLimited atomic.Int64 // messages dropped by the rate limit
	RateKicks   atomic.Int64 // connections closed with 1008 for flooding
	TooLong     atomic.Int64 // chat lines refused for exceeding MaxLine
	// HistoryResets counts history events that said "reset": a resume
	// from an epoch or an offset the history no longer had.
	HistoryResets atomic.Int64
	Compressed    atomic.Int64 // frames given a compressed twin (once per broadcast and format, or per reply)
	NotReady      atomic.Int64 // messages refused while the sender's name was being claimed cluster-wide

	// ClusterDropped counts messages from other nodes that were not
	// delivered because they were malformed. (Whispers go to every node,
	// and those with none of the target's connections ignore them; those
	// dropped because a loop was behind are the Cluster's to count.)
	ClusterDropped atomic.Int64
	// HistoryUnshared counts chat messages that reached a node with the
	// cluster's shared history over core NATS, from a node keeping its
	// own: dropped, so that no node mixes two histories.
	HistoryUnshared atomic.Int64

	// The application's backend (Control): messages refused to muted
	// users, upgrades and renames refused for bans, notices published.
	Muted, BannedRefused, Notices atomic.Int64
}

// Member is a chat user. Its fields are owned by its connection's loop,
// except json, which is set before the member is registered and never
// changes, so other loops may read it.
//
// Layout. A Member lives as long as its connection, so its size is guarded
// by TestMemberSize: 64 bytes on 64-bit platforms, a size class of the
// runtime's, full. State needed only while a message is handled (the
// unescaped JSON strings) is the loop's (loopRooms.scratch), not the
// member's; identity data is behind the id pointer. Another field moves
// Member to the 80-byte class: put rare state behind id or a pointer.
type Member struct {
	c    *engine.Conn
	name string
	ri   *roomInfo      // the room the member is in; nil only while a cluster claims its name (claimTask)
	id   *auth.Identity // from the connect token (replaced by /refresh); nil: anonymous

	// The member's place in its loop's delivery lists. It follows ri with
	// a delay: a move is applied by a task posted to the member's loop, so
	// the broadcasts the member caused before it (posted earlier) still
	// reach it in the room it left.
	local *localRoom // the loop-local list holding the member; nil if none
	lim   limiter
	idx   int32 // position in local's list

	strikes uint16 // consecutive messages refused by the rate limit (MaxStrikes is at most 65535)
	json    bool   // speaks ProtocolJSON
	kicked  bool   // closing for flooding: ignore what still arrives
}

// New creates a Hub and registers its routes (/echo and /chat) on srv.
func New(srv *engine.Server, cfg Config) *Hub {
	cfg = cfg.withDefaults()
	h := &Hub{srv: srv, cfg: cfg, seed: maphash.MakeSeed(), start: time.Now(), z: newDeflaters(srv.Config())}
	h.clock = func() time.Duration { return time.Since(h.start) }
	h.be.init(cfg.Backend, cfg.Cluster)
	sc := srv.Config()
	h.maxFrame, h.maxMessage = min(cfg.MaxMessage, sc.MaxFrameSize), min(cfg.MaxMessage, sc.MaxMessageSize)
	h.histBudget = sc.MaxOutboundBytes / 4
	if cfg.Rate > 0 {
		h.interval = int64(float64(time.Second) / cfg.Rate)
		h.tolerance = int64(cfg.Burst-1) * h.interval
		h.rateText = strconv.FormatFloat(cfg.Rate, 'g', -1, 64) + "/s, burst " + strconv.Itoa(cfg.Burst)
	}
	h.names = make([]*shard, cfg.Shards)
	h.rooms = make([]*roomShard, cfg.Shards)
	for i := range h.names {
		h.names[i] = &shard{byName: make(map[string]nameEntry)}
		h.rooms[i] = &roomShard{rooms: make(map[string]*roomInfo)}
	}
	if cfg.History > 0 {
		h.hist = cfg.HistoryStore
		if h.hist == nil || cfg.Sequencer != nil {
			h.hist = NewMemoryHistory(MemoryHistoryConfig{PerRoom: cfg.History, TTL: cfg.HistoryTTL, MaxBytes: cfg.HistoryMaxBytes,
				RoomMaxBytes: cfg.HistoryRoomMaxBytes, Mirror: cfg.Sequencer != nil})
		}
		if cfg.Sequencer != nil {
			h.seqr = cfg.Sequencer
			h.seqr.Attach(h)
		}
	}
	h.chat = &chat{h: h}
	if cfg.Cluster != nil {
		h.cl = cfg.Cluster
		h.cl.Attach(h)
	}
	if h.authOn() {
		h.holds = newNameHolds(cfg.AuthNameHold, cfg.AuthNameHolds)
		srv.Handle("/echo", authEcho{h: h})
		srv.HandleSweep(h.sweepExpired)
	} else {
		srv.Handle("/echo", Echo{})
	}
	srv.Handle("/chat", h.chat)
	return h
}

// Chat returns the /chat handler, to mount the same chat on more routes.
func (h *Hub) Chat() engine.Handler { return h.chat }

// Stats returns the hub's live counters.
func (h *Hub) Stats() *Stats { return &h.stats }

// History is the hub's history store; nil if Config.History is zero.
func (h *Hub) History() History { return h.hist }

// Sequencer is the cluster's history the hub uses (Config.Sequencer);
// nil if none.
func (h *Hub) Sequencer() Sequencer { return h.seqr }

// Users is the number of connected chat users.
func (h *Hub) Users() int64 { return h.users.Load() }
