package bench

import (
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"runtime"
	"strings"
	"time"
	"unsafe"
)

// Scenario names a load shape.
type Scenario string

// Scenarios.
const (
	// Connect opens Conns connections at RampRate and holds them for
	// Duration: connect times, failures, server memory per connection.
	Connect Scenario = "connect"
	// Echo sends messages of Payload bytes on each of Conns connections to
	// /echo for Duration: messages/s and round-trip times. With Rate (or
	// ConnRate) it is open loop: each connection sends on its own
	// timetable, whatever the replies do, and round trips count from each
	// message's scheduled time, so a server stall shows in full. Without,
	// closed loop: InFlight messages in flight per connection, each reply
	// sending the next (the most messages per second; a stall holds the
	// next sends back, so the report adds the histogram corrected for it).
	Echo Scenario = "echo"
	// Broadcast has Senders of the Conns /chat users send Rate messages/s in
	// total for Duration; every user receives every message: deliveries/s,
	// loss and delivery latency.
	Broadcast Scenario = "broadcast"
	// Chat is a realistic room: most of the Conns users idle, TalkFrac of
	// them talking at TalkRate, and WhisperFrac of what they say whispered.
	Chat Scenario = "chat"
	// AttackInbound has Conns attackers on /echo each send the header of a
	// FrameSize frame and SendFrac of its body, then stall (or Trickle),
	// for Duration, while Healthy clients keep echoing: which attackers the
	// server closes, with which code and when, the healthy clients' round
	// trips and errors, the server's RSS before, at peak and after Settle.
	// Loopback servers only (see attack.go).
	AttackInbound Scenario = "attack-inbound"
	// AttackOutbound has Conns /chat members that never read (HogRcvBuf
	// receive buffers) while one sender sends Lines lines of Payload bytes
	// at Rate and Healthy members read every broadcast: the hogs' fates,
	// the healthy members' loss, the server's RSS before, at peak and after
	// Settle. Loopback servers only.
	AttackOutbound Scenario = "attack-outbound"
	// Mixed is a staged run (a load plan's stages, see plan.go): idle,
	// echo and chat users in the proportions of Mix, opened and closed to
	// follow the stages' targets.
	Mixed Scenario = "mix"
)

// Scenarios lists every scenario, in the order --help shows them.
var Scenarios = []Scenario{Connect, Echo, Broadcast, Chat, AttackInbound, AttackOutbound}

// Defaults used for the zero fields of Config.
const (
	DefaultRampRate         = 2000 // connections per second, all processes together
	DefaultDuration         = 10 * time.Second
	DefaultPayload          = 64  // bytes
	DefaultSenders          = 25  // 4 msg/s each at DefaultRate: under wsnode's default --chat-rate 5
	DefaultRate             = 100 // broadcast messages per second, all senders together
	DefaultTalkFrac         = 0.05
	DefaultTalkRate         = 0.2 // messages per second per talker
	DefaultDrain            = 2 * time.Second
	DefaultDialTimeout      = 5 * time.Second
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultPingPeriod       = 30 * time.Second
	DefaultDialers          = 32
)

// DefaultConns is the connection count for each scenario when Config.Conns is zero.
var DefaultConns = map[Scenario]int{Connect: 1000, Echo: 100, Broadcast: 1000, Chat: 1000,
	AttackInbound: 400, AttackOutbound: 300, Mixed: 0}

// DefaultPath is the route for each scenario when the URL has no path.
var DefaultPath = map[Scenario]string{Connect: "/echo", Echo: "/echo", Broadcast: "/chat", Chat: "/chat",
	AttackInbound: "/echo", AttackOutbound: "/chat"}

// Config describes one run. The zero value of every field but Scenario and
// URL works: each field says what zero means. Config is what the workers
// receive (as JSON), so every field that matters to them is exported.
type Config struct {
	Scenario Scenario `json:"scenario" yaml:"scenario"`
	// URL is the server, ws://host:port or wss://host:port (TLS 1.3, see
	// CA and Insecure), with an optional path. If the path is
	// empty or "/", DefaultPath[Scenario] is used. Ignored when URLs is set.
	URL string `json:"url" yaml:"url"`
	// URLs are several servers (the nodes of a cluster) sharing the users,
	// each written as URL is. User i connects to URLs[NodeOf(i)]: round
	// robin, with the senders (broadcast) and talkers (chat) round robin
	// among themselves, so every node has its share of both. After
	// defaults it holds every URL, resolved, and URL is URLs[0]. Empty:
	// URL alone. The attack scenarios take one URL only.
	URLs []string `json:"urls,omitempty" yaml:"urls"`
	// Islands says that the URLs are separate servers that do not relay to
	// each other: a broadcast is expected only by the users on its sender's
	// URL. False: the URLs are one cluster, every broadcast is expected by
	// every user, whichever URL they are on.
	Islands bool `json:"islands,omitempty" yaml:"islands"`

	// Conns is the number of connections (users), over all processes.
	// If zero, DefaultConns[Scenario].
	Conns int `json:"conns" yaml:"conns"`
	// RampRate is how many connections are opened per second, over all
	// processes. If zero, DefaultRampRate.
	RampRate float64 `json:"ramp_rate" yaml:"ramp"`
	// Duration is the load phase: how long connect holds its connections,
	// how long echo, broadcast and chat send. If zero, DefaultDuration.
	Duration time.Duration `json:"duration" yaml:"duration"`
	// Payload is the message size in bytes. Echo needs at least
	// MinEchoPayload (send time and sequence number), broadcast and chat at
	// least MinChatPayload (sender, sequence number, target, send time as
	// text). Smaller values are raised to the minimum. If zero,
	// DefaultPayload.
	Payload int `json:"payload" yaml:"payload"`
	// InFlight is closed-loop echo's messages in flight per connection. If
	// zero, 1. Open-loop echo (Rate) has no such bound.
	InFlight int `json:"in_flight" yaml:"inflight"`
	// Senders is how many broadcast users send. If zero, DefaultSenders;
	// capped at Conns.
	Senders int `json:"senders" yaml:"senders"`
	// Rate is a send rate in messages per second, over all users. Broadcast:
	// split evenly over the senders; if zero, DefaultRate. Echo: split
	// evenly over the connections, each on its own timetable (open loop);
	// if zero (and ConnRate zero), echo is closed loop.
	Rate float64 `json:"rate" yaml:"rate"`
	// ConnRate is open-loop echo's rate per connection: Rate is then
	// ConnRate × Conns. Give one of the two.
	ConnRate float64 `json:"conn_rate,omitempty" yaml:"conn_rate"`
	// TalkFrac is the fraction of chat users who talk. If zero, DefaultTalkFrac.
	TalkFrac float64 `json:"talk_frac" yaml:"talk_frac"`
	// TalkRate is each chat talker's mean rate in messages per second (Poisson
	// arrivals). If zero, DefaultTalkRate.
	TalkRate float64 `json:"talk_rate" yaml:"talk_rate"`
	// WhisperFrac is the fraction of chat messages sent as "/whisper NAME
	// text" to another user whose name the bench has learned from the chat.
	// Zero disables whispers (the node does not support them yet).
	WhisperFrac float64 `json:"whisper_frac" yaml:"whisper_frac"`
	// Compression offers permessage-deflate (RFC 7692) as Chromium does
	// ("permessage-deflate; client_max_window_bits"), inflates the
	// compressed messages it receives (the bench itself sends plain ones,
	// which the extension allows), fills payloads with chat-like JSON text
	// instead of a repeated byte (so compression ratios are realistic), and
	// reports wire bytes beside payload bytes. A server that declines the
	// offer still works; its wire bytes then show no saving.
	Compression bool `json:"compression,omitempty" yaml:"compression"`
	// CA is a PEM file of the CAs that sign wss servers' certificates. If
	// empty, the system's roots.
	CA string `json:"ca,omitempty" yaml:"ca"`
	// Insecure skips the verification of wss servers' certificates.
	Insecure bool `json:"insecure,omitempty" yaml:"insecure"`
	// TLSWorkers is how many wss TLS handshakes run at once per process,
	// each on a goroutine (never one per connection); more wait in a
	// queue. If zero, DefaultTLSWorkers per CPU core.
	TLSWorkers int `json:"tls_workers,omitempty" yaml:"tls_workers"`
	// Drain is how long broadcast and chat keep receiving after the senders
	// stop, and the longest echo waits for its last replies: a message that
	// has not arrived by then is lost. If zero, DefaultDrain.
	Drain time.Duration `json:"drain" yaml:"drain"`

	// Procs is the number of worker processes sharing the connections. With
	// 1 the work runs in this process. If zero, 1.
	Procs int `json:"procs" yaml:"procs"`
	// Loops is the number of gnet event loops per process. If zero, NumCPU.
	Loops int `json:"loops" yaml:"loops"`
	// Dialers is the number of goroutines per process that dial (a dial
	// blocks until connected); connections themselves have no goroutine.
	// If zero, DefaultDialers.
	Dialers int `json:"dialers" yaml:"dialers"`
	// DialTimeout bounds the TCP connect. If zero, DefaultDialTimeout.
	DialTimeout time.Duration `json:"dial_timeout" yaml:"dial_timeout"`
	// HandshakeTimeout bounds the wait for the 101 response after the TCP
	// connect. If zero, DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration `json:"handshake_timeout" yaml:"handshake_timeout"`
	// PingPeriod is how often the bench pings every connection, so servers
	// with an idle timeout keep idle users. If zero, DefaultPingPeriod;
	// negative disables pings.
	PingPeriod time.Duration `json:"ping_period" yaml:"ping_period"`
	// PerSource is how many connections one source address may hold. Past it
	// the bench dials from 127.0.0.2, 127.0.0.3, ... (loopback servers only).
	// If zero, half the kernel's ephemeral port range (the port search of
	// connect slows down as the range fills).
	PerSource int `json:"per_source" yaml:"per_source"`
	// MaxFailures is how many connections may fail before the run stops.
	// Zero means none in echo, broadcast and chat (every user must be there
	// for the counts to be exact) and 1% of Conns in connect; negative means
	// no limit. Running out of file descriptors or ephemeral ports always
	// stops the run.
	MaxFailures int `json:"max_failures" yaml:"max_failures"`

	// Attack scenarios only (attack-inbound, attack-outbound; see the
	// bounds in attack.go). Conns is the number of attackers or hogs.

	// Healthy is how many well-behaved clients run beside the attack:
	// echoing on /echo (inbound, whichever route is attacked) or reading
	// every broadcast (outbound). If zero, DefaultHealthy.
	Healthy int `json:"healthy,omitempty" yaml:"healthy"`
	// FrameSize is the payload length an inbound attacker's frame header
	// announces. If zero, DefaultAttackFrame.
	FrameSize int `json:"frame_size,omitempty" yaml:"frame_size"`
	// SendFrac is the part of that payload an attacker sends before it
	// stalls; at least one byte always stays unsent. If zero,
	// DefaultSendFrac.
	SendFrac float64 `json:"send_frac,omitempty" yaml:"send_frac"`
	// Trickle makes a stalled attacker send one more byte every Trickle
	// (never the last one), which keeps an idle timeout from firing. Zero:
	// no trickle.
	Trickle time.Duration `json:"trickle,omitempty" yaml:"trickle"`
	// Lines is how many lines the outbound sender sends (Payload bytes
	// each, at Rate lines per second). If zero, DefaultAttackLines.
	Lines int `json:"lines,omitempty" yaml:"lines"`
	// HogRcvBuf is the SO_RCVBUF of outbound hogs. If zero, DefaultHogRcvBuf.
	HogRcvBuf int `json:"hog_rcvbuf,omitempty" yaml:"hog_rcvbuf"`
	// Settle is how long after the attack (its connections closed) the
	// server's RSS is sampled for the last time. If zero, DefaultSettle.
	Settle time.Duration `json:"settle,omitempty" yaml:"settle"`

	// ServerPIDs are the server's processes, measured from /proc (RSS, CPU
	// seconds). Empty: no server measurements.
	ServerPIDs []int `json:"server_pids,omitempty" yaml:"server_pids"`

	// Progress receives a live status line every second ("\r..."). Nil: none.
	Progress io.Writer `json:"-" yaml:"-"`
	// Logf logs run events (not per message). Nil: discard.
	Logf func(format string, args ...any) `json:"-" yaml:"-"`
	// WorkerCommand is the argv that starts a worker process, which must call
	// WorkerMain (see IsWorker). If nil, this executable with "__worker".
	WorkerCommand []string `json:"-" yaml:"-"`

	// Deployment runs: stages, thresholds, source addresses, agents, the
	// live view (plan.go, threshold.go, source.go, agent.go, live.go).

	// Stages make the run a staged mix (Scenario Mixed): the connection
	// count follows them, and Conns and Duration become their peak and
	// length. Mix says what the users do; nil: all idle.
	Stages []Stage `json:"stages,omitempty" yaml:"stages"`
	Mix    *Mix    `json:"mix,omitempty" yaml:"mix"`
	// Thresholds are pass/fail conditions on the report ("p99<50ms",
	// "loss==0", "stage 2: connect_failed<0.1%"; see threshold.go),
	// checked before the first connection and judged at the end.
	Thresholds []string `json:"-" yaml:"thresholds"`
	// SourceAddrs are local addresses (IPs, CIDRs or first-last ranges)
	// that the connections are bound to, round robin, so that one machine
	// holds more than one address's ephemeral ports to a server. Empty:
	// the kernel's choice (127.0.0.x spreading for loopback, see
	// PerSource).
	SourceAddrs []string `json:"source_addrs,omitempty" yaml:"source_addrs"`
	// Agents are wsbench agents (host:port) that run the workers instead
	// of this process: the connections are split across them, and Procs
	// is their workers in all. Token authenticates to them (nil: none).
	Agents []string `json:"-" yaml:"agents"`
	Token  []byte   `json:"-" yaml:"-"`
	// AgentTimeout is how long an agent may stay silent before it counts
	// as lost. If zero, DefaultAgentTimeout.
	AgentTimeout time.Duration `json:"-" yaml:"agent_timeout"`
	// MetricsAddr serves the live counters and histograms for Prometheus
	// on http://MetricsAddr/metrics during the run. Empty: none.
	MetricsAddr string `json:"-" yaml:"metrics_addr"`
	// Out appends one JSON snapshot per OutInterval to this file (JSON
	// lines). Empty: none. OutInterval zero: 1 s.
	Out         string        `json:"-" yaml:"out"`
	OutInterval time.Duration `json:"-" yaml:"out_interval"`
	// LocalUsers is how many users this machine's workers hold, when
	// agents share the run: what its source addresses must carry. Zero:
	// all (set by the controller).
	LocalUsers int `json:"local_users,omitempty" yaml:"-"`
}

// MinChatPayload is the smallest broadcast and chat payload: the text
// header written by stampChat. MinEchoPayload is echo's: the header written
// by stampEcho.
const (
	MinChatPayload = chatHeaderLen
	MinEchoPayload = echoHeaderLen
)

// withDefaults returns c with every zero field set and the URL resolved.
func (c Config) withDefaults() (Config, error) {
	if _, ok := DefaultConns[c.Scenario]; !ok {
		return c, fmt.Errorf("bench: unknown scenario %q (want one of %s)", c.Scenario, scenarioList())
	}
	if len(c.URLs) == 0 {
		c.URLs = []string{c.URL}
	}
	if len(c.URLs) > 1 && c.Scenario.attack() {
		return c, fmt.Errorf("bench: %s takes one URL, not %d", c.Scenario, len(c.URLs))
	}
	if len(c.URLs) > MaxURLs {
		return c, fmt.Errorf("bench: %d URLs, at most %d", len(c.URLs), MaxURLs)
	}
	urlPath := ""
	if u, err := url.Parse(c.URLs[0]); err == nil && u.Path != "" && u.Path != "/" {
		urlPath = u.RequestURI()
	}
	urls := make([]string, len(c.URLs))
	var u *url.URL
	for i := len(c.URLs) - 1; i >= 0; i-- { // ends with u = URLs[0]
		var err error
		if u, err = c.resolveURL(c.URLs[i]); err != nil {
			return c, err
		}
		urls[i] = u.String()
	}
	c.URLs, c.URL = urls, urls[0]
	if c.Scenario.attack() {
		// Before the generic defaults: the attacks have their own.
		if err := c.attackDefaults(u.Hostname()); err != nil {
			return c, err
		}
	}
	if c.Scenario == Mixed {
		if err := c.mixDefaults(urlPath); err != nil {
			return c, err
		}
	} else if len(c.Stages) > 0 || c.Mix != nil {
		return c, fmt.Errorf("bench: stages and a mix make a %q run, not %s", Mixed, c.Scenario)
	}
	if c.Conns <= 0 {
		c.Conns = DefaultConns[c.Scenario]
	}
	if c.RampRate <= 0 {
		c.RampRate = DefaultRampRate
	}
	if c.Duration <= 0 {
		c.Duration = DefaultDuration
	}
	if c.Payload <= 0 {
		c.Payload = DefaultPayload
	}
	switch c.Scenario {
	case Echo:
		c.Payload = max(c.Payload, echoHeaderLen)
	case Broadcast, Chat, AttackOutbound:
		c.Payload = max(c.Payload, chatHeaderLen)
	case AttackInbound:
		c.Payload = max(c.Payload, echoHeaderLen) // the healthy clients' echo
	}
	if c.InFlight <= 0 {
		c.InFlight = 1
	}
	if c.Senders <= 0 {
		c.Senders = DefaultSenders
	}
	c.Senders = min(c.Senders, c.Conns)
	if c.Rate < 0 || c.ConnRate < 0 {
		return c, fmt.Errorf("bench: negative rate")
	}
	switch {
	case c.Scenario == Echo && c.ConnRate > 0:
		if c.Rate > 0 {
			return c, fmt.Errorf("bench: echo takes a total rate or a rate per connection, not both")
		}
		c.Rate = c.ConnRate * float64(c.Conns)
	case c.Scenario == Echo:
		c.ConnRate = c.Rate / float64(c.Conns) // zero: closed loop
	case c.ConnRate > 0:
		return c, fmt.Errorf("bench: a rate per connection is for echo, not %s", c.Scenario)
	case c.Rate == 0:
		c.Rate = DefaultRate
	}
	if c.TalkFrac <= 0 {
		c.TalkFrac = DefaultTalkFrac
	}
	c.TalkFrac = min(c.TalkFrac, 1)
	if c.TalkRate <= 0 {
		c.TalkRate = DefaultTalkRate
	}
	c.WhisperFrac = min(max(c.WhisperFrac, 0), 1)
	if c.Drain <= 0 {
		c.Drain = DefaultDrain
	}
	if c.Procs <= 0 {
		c.Procs = 1
	}
	c.Procs = min(c.Procs, c.users())
	if c.Loops <= 0 {
		c.Loops = runtime.NumCPU()
	}
	if c.Dialers <= 0 {
		c.Dialers = DefaultDialers
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.PingPeriod == 0 {
		c.PingPeriod = DefaultPingPeriod
	}
	if c.MaxFailures == 0 && c.Scenario == Connect {
		c.MaxFailures = c.Conns/100 + 1
	}
	return c, nil
}

// MaxURLs bounds Config.URLs: the per-URL accounting keeps one counter per
// pair of URLs and second.
const MaxURLs = 64

// resolveURL checks one server URL and fills in its port and path.
func (c *Config) resolveURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("bench: bad URL %q: %w", s, err)
	}
	port := "80"
	switch u.Scheme {
	case "ws":
	case "wss":
		port = "443"
	default:
		return nil, fmt.Errorf("bench: URL %q: scheme must be ws or wss", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("bench: URL %q has no host", s)
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		u.Host = net.JoinHostPort(u.Host, port)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = DefaultPath[c.Scenario]
	}
	return u, nil
}

// openLoop reports whether echo sends on timetables (Rate) rather than
// on replies.
func (c *Config) openLoop() bool { return c.Scenario == Echo && c.Rate > 0 }

// scheduled reports whether users send on timetables: broadcast, chat,
// attack-outbound, open-loop echo (the pacer then ticks every millisecond).
func (c *Config) scheduled() bool { return c.sendersOf() > 0 || c.openLoop() || c.Scenario == Mixed }

// trackBytes is what one process holds to track every message (track.go):
// a seqWindow per user and sender, and a bit per slot per sender and loop.
func (c *Config) trackBytes(users int) int64 {
	slots := c.Rate * c.Duration.Seconds() // broadcast; chat's mean below
	switch c.Scenario {
	case Chat:
		slots = float64(c.talkers()) * c.TalkRate * c.Duration.Seconds()
	case AttackOutbound:
		slots = float64(c.Lines)
	}
	return int64(users)*int64(c.sendersOf())*int64(unsafe.Sizeof(seqWindow{})) + int64(float64(c.Loops)*slots/8)
}

// MaxTrackBytes bounds trackBytes: a run that would need more per process
// is refused (fewer users or senders per process, or more processes).
const MaxTrackBytes = 2 << 30

// maxFailures is how many failures are tolerated (-1: no limit).
func (c *Config) maxFailures() int {
	if c.MaxFailures < 0 {
		return -1
	}
	return c.MaxFailures
}

// connectBudget bounds the connect phase of one worker: its share of the
// ramp plus the per-connection timeouts, with slack.
func (c *Config) connectBudget() time.Duration {
	ramp := time.Duration(float64(c.Conns) / c.RampRate * float64(time.Second))
	// A quarter more than the nominal ramp: with dozens of worker and
	// server processes on a few cores the pacer falls behind (seen at
	// 1,000,000 connections on 2 cores), and this bound is against hangs,
	// not a measurement.
	return ramp + ramp/4 + c.DialTimeout + c.HandshakeTimeout + 10*time.Second
}

// talkers is how many chat users talk.
func (c *Config) talkers() int {
	return max(1, int(math.Round(float64(c.Conns)*c.TalkFrac)))
}

// sendersOf is how many users send in the scenario: broadcast's senders,
// chat's talkers, attack-outbound's one sender, none otherwise (open-loop
// echo connections send too, each on its own: see openLoop).
func (c *Config) sendersOf() int {
	switch c.Scenario {
	case Broadcast:
		return c.Senders
	case Chat:
		return c.talkers()
	case AttackOutbound:
		return 1
	}
	return 0
}

// NodeOf is the index in URLs of the server user i connects to, for a
// Config after defaults. Users are dealt round robin, but senders (see
// senderIndex) first and then the other users, so that senders evenly
// spaced at a multiple of len(URLs) still do not all land on one node.
func (c *Config) NodeOf(i int) int {
	n := len(c.URLs)
	if n <= 1 || i < 0 {
		return 0
	}
	k := c.sendersOf()
	if k == 0 || i >= c.Conns {
		return i % n
	}
	if s, ok := senderIndex(i, c.Conns, k); ok {
		return s % n
	}
	// Users 0..i hold (i+1)*k/Conns senders; i is the rest's i-(that)th.
	// The rest's round continues where the senders' ended, so that the
	// users per URL differ by at most one, as in a plain round robin.
	return (i - (i+1)*k/c.Conns + k) % n
}

func scenarioList() string {
	s := make([]string, len(Scenarios))
	for i, sc := range Scenarios {
		s[i] = string(sc)
	}
	return strings.Join(s, ", ")
}

// senderIndex reports whether user i of n is one of k evenly spread
// senders, and which (0..k-1). Evenly spread means every worker process and
// every event loop gets its share.
func senderIndex(i, n, k int) (int, bool) {
	lo, hi := i*k/n, (i+1)*k/n
	return hi - 1, hi > lo
}
