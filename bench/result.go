package bench

import (
	"sort"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// SchemaVersion names the layout of Report; it changes when a field changes
// meaning or goes away (new fields do not change it). wsbench/2: loss is
// counted per message (lost, duplicated and extra apart, never netted),
// broadcast and chat latency from the scheduled send time, late sends are
// skipped slots, connect time counts from the scheduled dial; window_sec
// and late_sends are gone.
const SchemaVersion = "wsbench/2"

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
	// chat's delivery latency (send to each receiver's first copy), counted
	// from when each message was due (LatencyFrom "scheduled": a client or
	// server stall shows in full), except in closed-loop echo, which has no
	// schedule and counts from the actual send (LatencyFrom "sent"; see
	// LatencyCorrected). Nil for connect and when nothing was received.
	Latency     *Latency `json:"latency,omitempty"`
	LatencyFrom string   `json:"latency_from,omitempty"`
	// LatencyCorrected is closed-loop echo's round trip corrected for
	// coordinated omission: a stall in a closed loop holds back the sends
	// that would have measured it, so each round trip longer than the
	// expected interval (Latency.CorrectedIntervalUs, the raw median)
	// also records the round trips the held-back sends would have seen, as
	// HdrHistogram's RecordCorrectedValue does. Nil otherwise.
	LatencyCorrected *Latency `json:"latency_corrected,omitempty"`
	// SendLag is how late each scheduled message left after its due time
	// (the client's own delay, included in Latency); nil without a
	// timetable (connect, closed-loop echo).
	SendLag *Latency `json:"send_lag,omitempty"`
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
	// ClockStepUs is the largest step of the wall clock seen during the run
	// by the coordinator or a worker, in µs, signed. Each process measures
	// with the monotonic clock (clock.go), so a step moves nothing within a
	// process; with several processes it may shift one's stamps against
	// another's, and Warnings says so.
	ClockStepUs float64 `json:"clock_step_us,omitempty"`
	// Warnings are what makes a figure above doubtful: a wall-clock step in
	// a multi-process run, negative latencies, a server whose RSS fell,
	// a client that fell behind its schedule, sequence numbers no sender
	// sent.
	Warnings []string `json:"warnings,omitempty"`
	// Error is why the run stopped early; empty when it completed.
	Error string `json:"error,omitempty"`

	// Stages is a staged run's stages, in order (stagereport.go); the
	// counts above are then the whole run's.
	Stages []StageReport `json:"stages,omitempty"`
	// Mix is a staged run's users by kind and their own figures.
	Mix *MixReport `json:"mix,omitempty"`
	// Agents is each agent's part of a run driven over agents (agent.go).
	Agents []AgentCounts `json:"agents,omitempty"`
	// Sources counts the connections opened from each source address,
	// when they were bound to several (source.go).
	Sources []SourceCount `json:"sources,omitempty"`
	// Thresholds are the run's pass/fail conditions, judged
	// (threshold.go).
	Thresholds []ThresholdResult `json:"thresholds,omitempty"`
}

// Params is the load's shape, after defaults.
type Params struct {
	Conns       int     `json:"conns"`
	RampRate    float64 `json:"ramp_rate"`    // connections per second
	DurationSec float64 `json:"duration_sec"` // hold (connect) or send phase
	Payload     int     `json:"payload,omitempty"`
	InFlight    int     `json:"in_flight,omitempty"`    // closed-loop echo
	Senders     int     `json:"senders,omitempty"`      // broadcast
	Rate        float64 `json:"rate,omitempty"`         // broadcast, open-loop echo: messages per second in total
	ConnRate    float64 `json:"conn_rate,omitempty"`    // open-loop echo: messages per second per connection
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
	// ConnectTime is from the moment a connection's dial was due on the
	// ramp (not when a dialer got to it: a dialer stuck on a slow server
	// holds the next ones back, and that wait counts) to its upgrade; for
	// a /chat user, to its greeting (a clustered node greets once the
	// cluster has granted the name).
	ConnectTime *Latency `json:"connect_time,omitempty"`
	// TLSHandshakeTime is the TLS handshake of a wss connection, from the
	// TCP connect to the handshake's end (part of ConnectTime).
	TLSHandshakeTime *Latency `json:"tls_handshake_time,omitempty"`
	// RampAchieved is the ramp the server let happen: connections opened
	// per second from the first dial's due time to the last upgrade
	// (RampSec), beside the requested Params.RampRate.
	RampAchieved float64 `json:"ramp_achieved,omitempty"`
	RampSec      float64 `json:"ramp_sec,omitempty"`
}

// MessageReport counts messages. For echo, Sent are requests and Received
// replies; for broadcast and chat, Sent are messages the senders wrote and
// Received deliveries (one message reaches every user). Every message is
// tracked by sender and sequence number at each receiver (see track.go and
// accounting.go), so that
//
//	Received = Expected - Lost + Duplicated + Extra
//
// and none of the three makes up for another.
type MessageReport struct {
	Sent int64 `json:"sent"`
	// Received counts every copy that arrived: first copies, duplicates
	// and extras (not the copies of a whisper echoed to its sender).
	Received int64 `json:"received"`
	// Expected is what a lossless server delivers. Echo: Sent. Broadcast
	// and chat: each broadcast the server accepted (it arrived somewhere)
	// at every user open when the load phase began (with Islands, on the
	// sender's URL only) and still connected when it was sent, each
	// whisper at its target.
	Expected int64 `json:"expected"`
	// Refused counts broadcasts that arrived nowhere, not even back at
	// their sender: the server did not relay them (a rate limit, an error
	// reply). They are not expected anywhere, so they are not loss.
	Refused int64 `json:"refused"`
	// Lost counts expected deliveries that never arrived (within Drain
	// after the send phase), message by message.
	Lost int64 `json:"lost"`
	// Duplicated counts copies of a message a receiver already had
	// (including ReorderedBeyondWindow).
	Duplicated int64 `json:"duplicated"`
	// Extra counts first copies that were not expected where they arrived:
	// a broadcast across islands, a whisper to someone else, a message
	// no sender of the run sent, an echo reply to no request.
	Extra   int64   `json:"extra"`
	LossPct float64 `json:"loss_pct"` // Lost / Expected
	// ReorderedBeyondWindow counts copies that arrived more than 32 of
	// their sender's messages behind its newest at that receiver: the
	// bench cannot tell a very late first copy from a duplicate there, and
	// counts them as duplicated.
	ReorderedBeyondWindow int64 `json:"reordered_beyond_window,omitempty"`
	// Skipped counts scheduled messages the client did not send because it
	// was more than 100 ms behind their slot (the client stalled or cannot
	// keep the rate): one count a message. Not sent, so not expected; the
	// messages it did send late count their lag in the latency.
	Skipped int64 `json:"skipped"`
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
}

// WhisperReport counts chat's whispers (also included in MessageReport's
// counts). Expected is one delivery per whisper, to its target (if still
// connected when it was sent); Received the first copies at the target.
type WhisperReport struct {
	Sent     int64 `json:"sent"`
	Expected int64 `json:"expected"`
	Received int64 `json:"received"`
	Lost     int64 `json:"lost"`
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
	// CorrectedIntervalUs is, for a corrected histogram
	// (Report.LatencyCorrected), the expected interval it was corrected
	// with.
	CorrectedIntervalUs float64 `json:"corrected_interval_us,omitempty"`
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
// just before the first dial (the workers are up, nothing dialed yet);
// "after" is at the end of the load phase, with the connections still open.
type ServerReport struct {
	PID            int   `json:"pid"` // 0: the sum over all PIDs
	RSSBeforeBytes int64 `json:"rss_before_bytes"`
	RSSAfterBytes  int64 `json:"rss_after_bytes"`
	// RSSBytesPerConn is (after - before) / OpenAtStart: all connections,
	// not just this process's, so with several PIDs read the sum entry.
	// In the attack scenarios it is (peak - before) / attackers. When RSS
	// fell instead (a server still returning memory of earlier load),
	// RSSFell is set, Report.Warnings says so, and the figure means
	// nothing: measure a freshly started server.
	RSSBytesPerConn float64 `json:"rss_bytes_per_conn"`
	RSSFell         bool    `json:"rss_fell,omitempty"`
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
	// SysSeconds is the system (kernel) part of CPUSeconds, over the same
	// span.
	SysSeconds float64 `json:"sys_seconds"`
	// CtxSwitches is the context switches, voluntary and not, of all the
	// process's threads over the same span as CPUSeconds (threads that
	// exited in between are not counted); CtxSwitchesPerMsg divides it by
	// the messages received, as CPUSecPerMillion.
	CtxSwitches       int64   `json:"ctx_switches"`
	CtxSwitchesPerMsg float64 `json:"ctx_switches_per_msg,omitempty"`
	// VolCtxSwitches is the voluntary part of CtxSwitches (a thread
	// blocked or slept; the rest are preemptions, which other processes on
	// the machine cause as much as the server).
	VolCtxSwitches       int64   `json:"vol_ctx_switches"`
	VolCtxSwitchesPerMsg float64 `json:"vol_ctx_switches_per_msg,omitempty"`
	Error                string  `json:"error,omitempty"`
}

// SockstatReport is the kernel's TCP memory from /proc/net/sockstat: of
// the whole machine (Scope "machine"), every TCP socket on it, the bench's
// own ends of loopback connections and anyone else's included, not the
// server's alone.
type SockstatReport struct {
	Scope             string  `json:"scope"` // "machine"
	TCPMemPagesBefore int64   `json:"tcp_mem_pages_before"`
	TCPMemPagesAfter  int64   `json:"tcp_mem_pages_after"`
	PageSize          int     `json:"page_size"`
	BytesPerConn      float64 `json:"bytes_per_conn"` // machine-wide (after - before) × page size / OpenAtStart (attacks: / attackers + healthy)
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
	Received    int64  `json:"received"` // copies its users received
	// Broadcast and chat: the broadcasts of its senders the server
	// accepted; at its users, the deliveries a lossless server (cluster,
	// or island with Config.Islands) makes, those that never came, the
	// copies of messages they had already, the first copies not expected
	// there, and the first copies from senders on other URLs (part of
	// Expected unless Islands).
	Accepted   int64 `json:"accepted"`
	Expected   int64 `json:"expected"`
	Lost       int64 `json:"lost"`
	Duplicated int64 `json:"duplicated"`
	Extra      int64 `json:"extra"`
	FromOther  int64 `json:"from_other"`
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
	// RampBegin is when the worker's first dial was due, LastOpen when its
	// last connection opened (clock.go ns; 0: none).
	RampBegin  int64  `json:"ramp_begin,omitempty"`
	LastOpen   int64  `json:"last_open,omitempty"`
	ConnectHDR string `json:"connect_hdr,omitempty"`
	LatencyHDR string `json:"latency_hdr,omitempty"`
	LagHDR     string `json:"lag_hdr,omitempty"`
	TLSHDR     string `json:"tls_hdr,omitempty"` // wss handshakes
	msgCounts
	// Broadcast and chat (track.go): the counts per pair of URLs
	// (Pairs[from*len(URLs)+to]); per sender ordinal, the sequence numbers
	// that arrived at one of this worker's users (Seen) and, for the
	// worker's own senders, those sent (SentSlots) and the messages not
	// the bench's they received (Replies); the whispers sent; the counted
	// users that left.
	Pairs     []pairCounts  `json:"pairs,omitempty"`
	Seen      [][]uint64    `json:"seen,omitempty"`
	SentSlots [][]uint64    `json:"sent_slots,omitempty"`
	Replies   []int64       `json:"replies,omitempty"`
	Whispers  []whisperSent `json:"whispers,omitempty"`
	Left      []leftUser    `json:"left,omitempty"`
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
	// LinesDone is when attack-outbound's sender sent its last line
	// (clock.go ns; 0: not before the end of Duration).
	LinesDone int64 `json:"lines_done,omitempty"`
	// ClockStepNs is the largest wall-clock step the worker saw (clock.go).
	ClockStepNs int64 `json:"clock_step_ns,omitempty"`
	// Mix is a staged run's last stage and seconds (pilot.go).
	Mix *mixProgress `json:"mix,omitempty"`
	// Sources: connections opened per source address (source.go).
	Sources []SourceCount `json:"sources,omitempty"`
}

// mergeResults adds up workers' results: counts and arrays are summed,
// bitmaps ORed, lists joined, histograms merged (encoded again in the
// result), series aligned by second.
func mergeResults(rs []*workerResult) (*workerResult, error) {
	out := &workerResult{Failures: map[string]int{}, FailureExamples: map[string]*FailError{}}
	var conn, lat, lag, tlsHS []string
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
		if r.RampBegin != 0 && (out.RampBegin == 0 || r.RampBegin < out.RampBegin) {
			out.RampBegin = r.RampBegin
		}
		out.LastOpen = max(out.LastOpen, r.LastOpen)
		conn = append(conn, r.ConnectHDR)
		tlsHS = append(tlsHS, r.TLSHDR)
		lat = append(lat, r.LatencyHDR)
		lag = append(lag, r.LagHDR)
		out.msgCounts.add(r.msgCounts)
		out.Pairs = addPairs(out.Pairs, r.Pairs)
		out.Seen = orRows(out.Seen, r.Seen)
		out.SentSlots = orRows(out.SentSlots, r.SentSlots)
		out.Replies = addInto(out.Replies, r.Replies)
		out.Whispers = append(out.Whispers, r.Whispers...)
		out.Left = append(out.Left, r.Left...)
		out.LinesDone = max(out.LinesDone, r.LinesDone)
		if abs64(r.ClockStepNs) > abs64(out.ClockStepNs) {
			out.ClockStepNs = r.ClockStepNs
		}
		out.ConnectedN = addInto(out.ConnectedN, r.ConnectedN)
		out.FailedN = addInto(out.FailedN, r.FailedN)
		out.OpenN = addInto(out.OpenN, r.OpenN)
		out.SentN = addInto(out.SentN, r.SentN)
		out.RecvN = addInto(out.RecvN, r.RecvN)
		out.Sources = mergeSources(out.Sources, r.Sources)
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
	var err error
	for _, h := range []struct {
		dst *string
		src []string
	}{{&out.ConnectHDR, conn}, {&out.LatencyHDR, lat}, {&out.LagHDR, lag}, {&out.TLSHDR, tlsHS}} {
		var m *hdr.Histogram
		if m, err = mergeHists(h.src...); err != nil {
			return nil, err
		}
		*h.dst = encodeHist(m)
	}
	for _, s := range series {
		out.Series = append(out.Series, *s)
	}
	sort.Slice(out.Series, func(i, j int) bool { return out.Series[i].T < out.Series[j].T })
	return out, nil
}

// msgCounts are the message counters a loop keeps and a worker sends (see
// MessageReport for what they mean there).
type msgCounts struct {
	// Sent and Received: messages written, copies read.
	Sent     int64 `json:"sent"`
	Received int64 `json:"received"`
	// Bytes is the received messages' payloads (inflated), WireBytes their
	// frames as they came off the socket.
	Bytes     int64 `json:"bytes"`
	WireBytes int64 `json:"wire_bytes"`
	Other     int64 `json:"other"` // messages that were not the bench's
	// Skipped counts slots a sender let pass unsent, being more than
	// lateLimit behind them: the client fell behind, one count a message.
	Skipped       int64 `json:"skipped,omitempty"`
	WhisperEchoes int64 `json:"whisper_echoes,omitempty"`
	// Echo: first copies of replies, duplicates, replies to nothing sent.
	EchoFirst int64 `json:"echo_first,omitempty"`
	EchoDup   int64 `json:"echo_dup,omitempty"`
	EchoExtra int64 `json:"echo_extra,omitempty"`
	// Unknown counts bench messages from no sender of this run (or a
	// sequence number past its slots): extra, with no pair to charge.
	Unknown int64 `json:"unknown,omitempty"`
	// Beyond counts copies more than windowLen behind their stream's
	// newest (counted as duplicated, see seqWindow).
	Beyond int64 `json:"beyond,omitempty"`
	// Negative counts latencies below zero (clocks of two processes that
	// disagree), recorded as the smallest value.
	Negative int64 `json:"negative,omitempty"`
}

func (c *msgCounts) add(o msgCounts) {
	c.Sent += o.Sent
	c.Received += o.Received
	c.Bytes += o.Bytes
	c.WireBytes += o.WireBytes
	c.Other += o.Other
	c.Skipped += o.Skipped
	c.WhisperEchoes += o.WhisperEchoes
	c.EchoFirst += o.EchoFirst
	c.EchoDup += o.EchoDup
	c.EchoExtra += o.EchoExtra
	c.Unknown += o.Unknown
	c.Beyond += o.Beyond
	c.Negative += o.Negative
}

// orRows ORs b into a row by row, growing a as needed.
func orRows(a, b [][]uint64) [][]uint64 {
	for len(a) < len(b) {
		a = append(a, nil)
	}
	for i, row := range b {
		a[i] = orInto(a[i], row)
	}
	return a
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
