package bench

import (
	"sort"
	"time"
)

// SchemaVersion names the layout of Report; it changes when a field changes
// meaning or goes away (new fields do not change it).
const SchemaVersion = "wsbench/1"

// Report is the merged result of a run: what the text table, the HTML page
// and --json show. It is the contract with the comparison driver, which
// reads the JSON form; every duration is in seconds or microseconds as its
// name says, every size in bytes.
type Report struct {
	Schema   string    `json:"schema"` // SchemaVersion
	Scenario Scenario  `json:"scenario"`
	URL      string    `json:"url"` // with the path used
	Started  time.Time `json:"started"`
	Procs    int       `json:"procs"` // worker processes
	Loops    int       `json:"loops"` // event loops per process
	Params   Params    `json:"params"`

	Conns ConnReport `json:"conns"`
	// Messages is nil for connect.
	Messages *MessageReport `json:"messages,omitempty"`
	// Latency is echo's round trip (send to echo received), or broadcast's and
	// chat's delivery latency (send to each receiver's receipt). Nil for
	// connect and when nothing was received.
	Latency *Latency `json:"latency,omitempty"`
	// Servers has one entry per --server-pid, plus a last entry with PID 0
	// summing them when there are several.
	Servers []ServerReport `json:"servers,omitempty"`
	// Sockstat is the kernel's TCP socket memory (/proc/net/sockstat).
	Sockstat *SockstatReport `json:"sockstat,omitempty"`
	// Series has one entry per second since dialing began.
	Series []Second `json:"series"`
	// Workers is each process's share of the counts above (which are their
	// sums), in worker order.
	Workers []WorkerCounts `json:"workers"`
	// Nodes is each URL's share of the counts above, in Config.URLs order;
	// nil with one URL.
	Nodes []NodeCounts `json:"nodes,omitempty"`
	// Islands is Config.Islands: the URLs were separate servers, each
	// broadcast expected only on its sender's URL.
	Islands bool `json:"islands,omitempty"`
	// Attack is what attack-inbound and attack-outbound measure besides
	// the counts above (which there count the healthy clients' messages);
	// nil for the other scenarios.
	Attack *AttackReport `json:"attack,omitempty"`
	// Error is why the run stopped early; empty when it completed.
	Error string `json:"error,omitempty"`
}

// Params is the load's shape, after defaults.
type Params struct {
	Conns       int     `json:"conns"`
	RampRate    float64 `json:"ramp_rate"`    // connections per second
	DurationSec float64 `json:"duration_sec"` // hold (connect) or send phase
	Payload     int     `json:"payload,omitempty"`
	InFlight    int     `json:"in_flight,omitempty"`    // echo
	Senders     int     `json:"senders,omitempty"`      // broadcast
	Rate        float64 `json:"rate,omitempty"`         // broadcast, messages per second in total
	TalkFrac    float64 `json:"talk_frac,omitempty"`    // chat
	TalkRate    float64 `json:"talk_rate,omitempty"`    // chat, per talker
	WhisperFrac float64 `json:"whisper_frac,omitempty"` // chat
	DrainSec    float64 `json:"drain_sec,omitempty"`
	// Attack scenarios: Conns are the attackers or hogs.
	Healthy    int     `json:"healthy,omitempty"`
	FrameSize  int     `json:"frame_size,omitempty"`  // inbound: announced payload
	SendFrac   float64 `json:"send_frac,omitempty"`   // inbound: part of it sent
	TrickleSec float64 `json:"trickle_sec,omitempty"` // inbound: one more byte every this often
	Lines      int     `json:"lines,omitempty"`       // outbound: lines sent, Payload bytes each at Rate
	HogRcvBuf  int     `json:"hog_rcvbuf,omitempty"`  // outbound: hogs' SO_RCVBUF
	SettleSec  float64 `json:"settle_sec,omitempty"`
}

// ConnReport counts connections.
type ConnReport struct {
	Target    int `json:"target"`
	Connected int `json:"connected"` // upgrades completed
	Failed    int `json:"failed"`
	// Failures counts failed connections by reason: the FailReason values,
	// with "http_NNN" for an upgrade answered with status NNN.
	Failures map[string]int `json:"failures,omitempty"`
	// FailureExamples holds the first message for each key of Failures.
	FailureExamples map[string]string `json:"failure_examples,omitempty"`
	// OpenAtStart is the number open when the load phase began: the
	// receivers of every broadcast.
	OpenAtStart int `json:"open_at_start"`
	// Disconnects counts connections the server closed during the load phase.
	Disconnects int `json:"disconnects"`
	// ConnectTime is TCP connect plus upgrade, per connection; for a /chat
	// user, up to its greeting (a clustered node greets once the cluster
	// has granted the name).
	ConnectTime *Latency `json:"connect_time,omitempty"`
}

// MessageReport counts messages. For echo, Sent are requests and Received
// replies; for broadcast and chat, Sent are messages the senders wrote and
// Received deliveries (one message reaches every user).
type MessageReport struct {
	Sent     int64 `json:"sent"`
	Received int64 `json:"received"`
	// Expected is what a lossless server delivers: echo, Sent; broadcast and
	// chat, for the messages sent inside the accounting window, the
	// broadcasts the server accepted × OpenAtStart, plus whispers × 1.
	Expected int64 `json:"expected"`
	// Refused counts broadcasts inside the window that the server did not
	// relay: no copy came back to their sender (a rate limit, an error
	// reply). They are not expected anywhere, so they are not loss.
	Refused int64 `json:"refused"`
	// Lost is Expected minus what arrived of them (never negative), Extra what
	// arrived beyond (duplicates, or whispers a server broadcast).
	Lost    int64   `json:"lost"`
	Extra   int64   `json:"extra"`
	LossPct float64 `json:"loss_pct"`
	// WindowSec is the accounting window from the start of sending: the whole
	// send phase, or up to the second of the first disconnect.
	WindowSec float64 `json:"window_sec"`
	// Whispers is the whisper part of chat's counts (nil when off).
	Whispers *WhisperReport `json:"whispers,omitempty"`
	// Other counts messages that were not the bench's (greetings).
	Other int64 `json:"other"`
	// DurationSec is the send phase; the rates below divide by it.
	DurationSec float64 `json:"duration_sec"`
	SentPerSec  float64 `json:"sent_per_sec"`
	// PerSec is received messages (echo replies, deliveries) per second.
	PerSec float64 `json:"per_sec"`
	// PayloadBytes is the received messages' payloads (inflated, when
	// compressed); WireBytes the frames that carried them, headers
	// included, as they came off the socket. Per message: the averages.
	PayloadBytes       int64   `json:"payload_bytes"`
	WireBytes          int64   `json:"wire_bytes"`
	PayloadBytesPerMsg float64 `json:"payload_bytes_per_msg"`
	WireBytesPerMsg    float64 `json:"wire_bytes_per_msg"`
	// MBPerSec is received payload in 10^6 bytes per second.
	MBPerSec float64 `json:"mb_per_sec"`
	// LateSends counts sends the pacer made late or skipped because the
	// client could not keep up with the requested rate.
	LateSends int64 `json:"late_sends,omitempty"`
}

// WhisperReport counts chat's whispers (also included in MessageReport's
// counts). Expected is one delivery per whisper, to its target.
type WhisperReport struct {
	Sent     int64 `json:"sent"`
	Expected int64 `json:"expected"`
	Received int64 `json:"received"`
	// Echoes are copies the server sent back to the whisperer: not
	// deliveries, not in Received.
	Echoes int64 `json:"echoes"`
}

// Latency summarizes a histogram of microseconds.
type Latency struct {
	Count  int64   `json:"count"`
	MinUs  float64 `json:"min_us"`
	MeanUs float64 `json:"mean_us"`
	P50Us  float64 `json:"p50_us"`
	P90Us  float64 `json:"p90_us"`
	P99Us  float64 `json:"p99_us"`
	P999Us float64 `json:"p999_us"`
	MaxUs  float64 `json:"max_us"`
	// Percentiles is the percentile curve, for plots.
	Percentiles []Percentile `json:"percentiles"`
	// HDR is the whole histogram in the HdrHistogram V2 compressed format,
	// base64 (values in µs, 1 µs to 60 s, 3 significant digits): merge it
	// with other runs or feed it to HdrHistogram tools.
	HDR string `json:"hdr"`
}

// Percentile is one point of a percentile curve.
type Percentile struct {
	P  float64 `json:"p"` // 0..100
	Us float64 `json:"us"`
}

// ServerReport is one server process measured from /proc. "Before" is
// before the first dial; "after" is at the end of the load phase, with the
// connections still open.
type ServerReport struct {
	PID            int   `json:"pid"` // 0: the sum over all PIDs
	RSSBeforeBytes int64 `json:"rss_before_bytes"`
	RSSAfterBytes  int64 `json:"rss_after_bytes"`
	// RSSBytesPerConn is (after - before) / OpenAtStart: all connections,
	// not just this process's, so with several PIDs read the sum entry.
	// In the attack scenarios it is (peak - before) / attackers.
	RSSBytesPerConn float64 `json:"rss_bytes_per_conn"`
	// Attack scenarios only, where "after" is Settle after the attack's
	// connections were gone: the highest RSS sampled (every 20 ms) and
	// when (seconds since dialing began), and RSS at the end of the attack
	// with its connections still open.
	RSSPeakBytes int64   `json:"rss_peak_bytes,omitempty"`
	RSSPeakSec   float64 `json:"rss_peak_sec,omitempty"`
	RSSEndBytes  int64   `json:"rss_end_bytes,omitempty"`
	// CPUSeconds is user+system time: over the whole run for connect, over
	// the send phase (plus drain) for the others.
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUSecPerMillion is CPUSeconds per million messages received (echo
	// replies, deliveries); 0 for connect.
	CPUSecPerMillion float64 `json:"cpu_sec_per_million_msgs,omitempty"`
	Error            string  `json:"error,omitempty"`
}

// SockstatReport is the kernel's TCP memory (all sockets on the machine,
// client side included) from /proc/net/sockstat.
type SockstatReport struct {
	TCPMemPagesBefore int64   `json:"tcp_mem_pages_before"`
	TCPMemPagesAfter  int64   `json:"tcp_mem_pages_after"`
	PageSize          int     `json:"page_size"`
	BytesPerConn      float64 `json:"bytes_per_conn"` // (after - before) × page size / OpenAtStart (attacks: / attackers + healthy)
}

// Second is one second of the run, summed over processes.
type Second struct {
	T        int   `json:"t"`     // seconds since dialing began
	Conns    int   `json:"conns"` // open at the end of the second
	Sent     int64 `json:"sent"`
	Received int64 `json:"received"`
	Bytes    int64 `json:"bytes"` // payload bytes received
	// P99Us is the latency p99 of the second: the largest of the processes'
	// p99s (an upper bound, for the live view; the report's Latency is exact).
	P99Us float64 `json:"p99_us"`
}

// WorkerCounts is one worker process's part of a run.
type WorkerCounts struct {
	Worker    int   `json:"worker"`
	Users     int   `json:"users"` // its share of Params.Conns
	Connected int   `json:"connected"`
	Failed    int   `json:"failed"`
	Sent      int64 `json:"sent"`
	Received  int64 `json:"received"`
}

// NodeCounts is one server URL's part of a run (Config.URLs): its users
// and what they sent and received.
type NodeCounts struct {
	URL         string `json:"url"`
	Users       int    `json:"users"` // users dealt to it (Config.NodeOf)
	Connected   int    `json:"connected"`
	Failed      int    `json:"failed"`
	OpenAtStart int    `json:"open_at_start"`
	Sent        int64  `json:"sent"`     // messages its users sent
	Received    int64  `json:"received"` // messages its users received
	// Broadcast and chat, over the accounting window: the broadcasts of
	// its senders the server accepted, the deliveries to its users that a
	// lossless server (cluster, or island with Config.Islands) makes, what
	// of them arrived short, and the deliveries from senders on other URLs
	// (those are part of Expected unless Islands).
	Accepted  int64 `json:"accepted"`
	Expected  int64 `json:"expected"`
	Lost      int64 `json:"lost"`
	FromOther int64 `json:"from_other"`
}

// workerResult is what one worker sends when its load phase is over.
type workerResult struct {
	Worker          int                   `json:"worker"`
	Connected       int                   `json:"connected"`
	Failed          int                   `json:"failed"`
	Failures        map[string]int        `json:"failures,omitempty"`
	FailureExamples map[string]*FailError `json:"failure_examples,omitempty"`
	OpenAtStart     int                   `json:"open_at_start"`
	Disconnects     int                   `json:"disconnects"`
	FirstDisconnect int64                 `json:"first_disconnect,omitempty"` // Unix ns, 0: none
	ConnectHDR      string                `json:"connect_hdr,omitempty"`
	LatencyHDR      string                `json:"latency_hdr,omitempty"`
	Sent            int64                 `json:"sent"`
	Received        int64                 `json:"received"`
	Bytes           int64                 `json:"bytes"`
	WireBytes       int64                 `json:"wire_bytes"`
	Other           int64                 `json:"other"`
	LateSends       int64                 `json:"late_sends,omitempty"`
	WhisperEchoes   int64                 `json:"whisper_echoes,omitempty"`
	// Accounting by send second (broadcast, chat): index (sent - start) / 1 s.
	// AckB counts broadcasts whose copy came back to their sender: the ones
	// the server accepted.
	SentB []int64 `json:"sent_b,omitempty"`
	RecvB []int64 `json:"recv_b,omitempty"`
	AckB  []int64 `json:"ack_b,omitempty"`
	SentW []int64 `json:"sent_w,omitempty"`
	RecvW []int64 `json:"recv_w,omitempty"`
	// The broadcast accounting per URL (index in Config.URLs): AckN[i] is
	// AckB of the senders on URL i, RecvX[i*len(URLs)+j] the deliveries of
	// their broadcasts to the users on URL j.
	AckN  [][]int64 `json:"ack_n,omitempty"`
	RecvX [][]int64 `json:"recv_x,omitempty"`
	// Per URL: connections opened, failed, open when the load began, and
	// messages sent and received by its users.
	ConnectedN []int    `json:"connected_n,omitempty"`
	FailedN    []int    `json:"failed_n,omitempty"`
	OpenN      []int    `json:"open_n,omitempty"`
	SentN      []int64  `json:"sent_n,omitempty"`
	RecvN      []int64  `json:"recv_n,omitempty"`
	Series     []Second `json:"series,omitempty"`
	// Attack is the attack scenarios' own counts; nil otherwise.
	Attack *attackResult `json:"attack,omitempty"`
	// LinesDone is when attack-outbound's sender sent its last line (Unix
	// ns; 0: not before the end of Duration).
	LinesDone int64 `json:"lines_done,omitempty"`
}

// mergeResults adds up workers' results: counts and arrays are summed,
// histograms merged (encoded again in the result), series aligned by second.
func mergeResults(rs []*workerResult) (*workerResult, error) {
	out := &workerResult{Failures: map[string]int{}, FailureExamples: map[string]*FailError{}}
	var conn, lat []string
	series := map[int]*Second{}
	for _, r := range rs {
		if r == nil {
			continue
		}
		out.Connected += r.Connected
		out.Failed += r.Failed
		for k, v := range r.Failures {
			out.Failures[k] += v
		}
		for k, v := range r.FailureExamples {
			if out.FailureExamples[k] == nil {
				out.FailureExamples[k] = v
			}
		}
		out.OpenAtStart += r.OpenAtStart
		out.Disconnects += r.Disconnects
		if r.FirstDisconnect != 0 && (out.FirstDisconnect == 0 || r.FirstDisconnect < out.FirstDisconnect) {
			out.FirstDisconnect = r.FirstDisconnect
		}
		conn = append(conn, r.ConnectHDR)
		lat = append(lat, r.LatencyHDR)
		out.Sent += r.Sent
		out.Received += r.Received
		out.Bytes += r.Bytes
		out.WireBytes += r.WireBytes
		out.Other += r.Other
		out.LateSends += r.LateSends
		out.WhisperEchoes += r.WhisperEchoes
		out.SentB = addInto(out.SentB, r.SentB)
		out.RecvB = addInto(out.RecvB, r.RecvB)
		out.AckB = addInto(out.AckB, r.AckB)
		out.SentW = addInto(out.SentW, r.SentW)
		out.RecvW = addInto(out.RecvW, r.RecvW)
		out.LinesDone = max(out.LinesDone, r.LinesDone)
		out.AckN = addRows(out.AckN, r.AckN)
		out.RecvX = addRows(out.RecvX, r.RecvX)
		out.ConnectedN = addInto(out.ConnectedN, r.ConnectedN)
		out.FailedN = addInto(out.FailedN, r.FailedN)
		out.OpenN = addInto(out.OpenN, r.OpenN)
		out.SentN = addInto(out.SentN, r.SentN)
		out.RecvN = addInto(out.RecvN, r.RecvN)
		if a := r.Attack; a != nil {
			if out.Attack == nil {
				out.Attack = &attackResult{}
			}
			out.Attack.Attackers += a.Attackers
			out.Attack.Bytes += a.Bytes
			out.Attack.Closes = append(out.Attack.Closes, a.Closes...)
			out.Attack.OpenAtEnd += a.OpenAtEnd
			out.Attack.HogBytes += a.HogBytes
		}
		for _, s := range r.Series {
			m := series[s.T]
			if m == nil {
				m = &Second{T: s.T}
				series[s.T] = m
			}
			m.Conns += s.Conns
			m.Sent += s.Sent
			m.Received += s.Received
			m.Bytes += s.Bytes
			m.P99Us = max(m.P99Us, s.P99Us)
		}
	}
	ch, err := mergeHists(conn...)
	if err != nil {
		return nil, err
	}
	lh, err := mergeHists(lat...)
	if err != nil {
		return nil, err
	}
	out.ConnectHDR, out.LatencyHDR = encodeHist(ch), encodeHist(lh)
	for _, s := range series {
		out.Series = append(out.Series, *s)
	}
	sort.Slice(out.Series, func(i, j int) bool { return out.Series[i].T < out.Series[j].T })
	return out, nil
}

// addInto adds b to a element by element, growing a as needed.
func addInto[T int | int64](a, b []T) []T {
	for len(a) < len(b) {
		a = append(a, 0)
	}
	for i, v := range b {
		a[i] += v
	}
	return a
}

// addRows adds b to a row by row (addInto each), growing a as needed.
func addRows(a, b [][]int64) [][]int64 {
	for len(a) < len(b) {
		a = append(a, nil)
	}
	for i, row := range b {
		a[i] = addInto(a[i], row)
	}
	return a
}

// sumTo sums a[:n] (all of a when n exceeds it).
func sumTo(a []int64, n int) (s int64) {
	for i, v := range a {
		if i >= n {
			break
		}
		s += v
	}
	return s
}
