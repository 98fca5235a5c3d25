package bench

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// StageReport is one stage of a staged run: its connections at the end,
// what it opened, closed and failed, its messages and latencies. A
// message counts in the stage it was sent in, a latency in the stage it
// was measured in, a failure in the stage it happened in; the whole run's
// counts are the stages' sums.
type StageReport struct {
	Stage    int     `json:"stage"` // from 1
	Name     string  `json:"name,omitempty"`
	StartSec float64 `json:"start_sec"` // since the first stage began
	EndSec   float64 `json:"end_sec"`
	Target   int     `json:"target"`
	// Connected is the connections open at the end of the stage; Opening
	// those the stages wanted open then that were still on their way
	// (dialing, upgrading, awaiting the chat's greeting): at the end of a
	// ramp, about the ramp's rate times the connect time.
	Connected int `json:"connected"`
	Opening   int `json:"opening,omitempty"`
	// Opened, Closed (by the stages), Cancelled (closed by the stages
	// before they were connected: dialing, upgrading or awaiting the
	// chat's greeting), Failed (to open; by reason in Failures),
	// Disconnects (open ones the server closed) in the stage.
	Opened      int            `json:"opened"`
	Closed      int            `json:"closed"`
	Cancelled   int            `json:"cancelled,omitempty"`
	Failed      int            `json:"failed"`
	Failures    map[string]int `json:"failures,omitempty"`
	Disconnects int            `json:"disconnects"`
	// Messages as in MessageReport: sent (echo requests and chat lines),
	// received (echo replies and deliveries), what a lossless server
	// delivers of them, what was missing or beyond it.
	Sent       int64   `json:"sent"`
	Received   int64   `json:"received"`
	Expected   int64   `json:"expected"`
	Lost       int64   `json:"lost"`
	Extra      int64   `json:"extra"`
	LossPct    float64 `json:"loss_pct"`
	Refused    int64   `json:"refused"` // chat lines the server did not relay (rate limit)
	SentPerSec float64 `json:"sent_per_sec"`
	PerSec     float64 `json:"per_sec"` // received per second of the stage
	MBPerSec   float64 `json:"mb_per_sec"`
	// Skipped counts messages not sent, their sender over 100 ms behind
	// their schedule (the client stalled); Duplicated echo replies had
	// already (chat is accounted per second: a duplicate shows as extra).
	Skipped    int64 `json:"skipped,omitempty"`
	Duplicated int64 `json:"duplicated,omitempty"`
	// Latency is echo round trips and chat deliveries together; EchoRTT
	// and Delivery each alone.
	Latency     *Latency `json:"latency,omitempty"`
	EchoRTT     *Latency `json:"echo_rtt,omitempty"`
	Delivery    *Latency `json:"delivery,omitempty"`
	ConnectTime *Latency `json:"connect_time,omitempty"`
	// ServerRSSBytes is the --server-pid processes' resident memory at the
	// stage's end, summed, and RSSBytesPerConn its growth since before the
	// first dial per connection open then.
	ServerRSSBytes  int64   `json:"server_rss_bytes,omitempty"`
	RSSBytesPerConn float64 `json:"rss_bytes_per_conn,omitempty"`
	// Partial says whose part is missing (a worker or agent lost).
	Partial string `json:"partial,omitempty"`
}

// MixReport is a staged run's users and each kind's own figures.
type MixReport struct {
	// Users of each kind at the peak, and the /chat users speaking JSON.
	Idle int `json:"idle"`
	Echo int `json:"echo"`
	Chat int `json:"chat"`
	JSON int `json:"json"`
	// The mix as run, after defaults.
	EchoRate float64 `json:"echo_rate"`
	ChatRate float64 `json:"chat_rate"`
	Payload  int     `json:"payload"`
	Whisper  float64 `json:"whisper,omitempty"`
	Paths    string  `json:"paths"` // "idle /chat, echo /echo, chat /chat"
	// Echo users: requests, replies, requests never answered while their
	// connection was open (lost), replies beyond (extra).
	EchoSent     int64    `json:"echo_sent"`
	EchoReceived int64    `json:"echo_received"`
	EchoLost     int64    `json:"echo_lost"`
	EchoExtra    int64    `json:"echo_extra"`
	EchoDup      int64    `json:"echo_duplicated,omitempty"`
	EchoRTT      *Latency `json:"echo_rtt,omitempty"`
	// Chat: lines sent, accepted by the server (the sender's copy came
	// back), refused; every delivery received; and the accounting of the
	// seconds counted (see mix.go): expected, received of it, lost, extra.
	ChatSent     int64          `json:"chat_sent"`
	ChatAccepted int64          `json:"chat_accepted"`
	ChatRefused  int64          `json:"chat_refused"`
	Deliveries   int64          `json:"deliveries"`
	Expected     int64          `json:"expected"`
	Counted      int64          `json:"counted"`
	Lost         int64          `json:"lost"`
	Extra        int64          `json:"extra"`
	Whispers     *WhisperReport `json:"whispers,omitempty"`
	Delivery     *Latency       `json:"delivery,omitempty"`
	// LateReceipts are expected deliveries that came after their second
	// was counted (over Drain late): among Lost, they arrived after all.
	// Lost minus them never arrived.
	LateReceipts int64 `json:"late_receipts,omitempty"`
	// WindowSec is the seconds of sending counted for chat loss: all of
	// them, unless a worker's part went missing.
	WindowSec float64 `json:"window_sec"`
}

// mixAgg gathers a staged run's stages and seconds from the workers, as
// they come (progress lines, then the results), folding each second
// into its stage once every worker has reported it: the memory it holds
// does not grow with the run's length.
type mixAgg struct {
	mu      sync.Mutex
	cfg     *Config
	sched   *schedule // on a clock starting at 0
	st      []stageAcc
	pend    map[int64]*mixBucket
	through []int64 // per worker: its seconds below are reported
	final   []bool  // per worker: it reported everything, or is lost
	lost    map[int]string
	run     lossAcc
}

// stageAcc is a stage's sums over the workers. Its histograms are kept
// encoded (a few KB, not an HdrHistogram's 150 KB each): a plan may have
// many stages.
type stageAcc struct {
	r                stageResult
	echo, chat, conn string
	reported         int
	loss             lossAcc
}

// lossAcc is the chat accounting of the seconds folded so far.
type lossAcc struct {
	sent, acked, seconds       int64
	expB, gotB, lostB, extraB  int64
	sentW, gotW, lostW, extraW int64
}

func newMixAgg(cfg *Config) *mixAgg {
	a := &mixAgg{cfg: cfg, sched: newSchedule(0, cfg.Stages), pend: map[int64]*mixBucket{},
		through: make([]int64, cfg.Procs), final: make([]bool, cfg.Procs), lost: map[int]string{}}
	a.st = make([]stageAcc, len(cfg.Stages))
	return a
}

// ingest takes worker w's stages and seconds.
func (a *mixAgg) ingest(w int, mp *mixProgress) {
	if mp == nil || w < 0 || w >= len(a.through) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.final[w] {
		return
	}
	for _, s := range mp.Stages {
		if s.Stage < 0 || s.Stage >= len(a.st) {
			continue
		}
		acc := &a.st[s.Stage]
		acc.add(&s)
	}
	for _, b := range mp.Buckets {
		p := a.pend[b.B]
		if p == nil {
			p = &mixBucket{B: b.B}
			a.pend[b.B] = p
		}
		p.add(&b)
	}
	a.through[w] = max(a.through[w], mp.Through)
	a.final[w] = mp.Final
	a.fold()
}

func (acc *stageAcc) add(s *stageResult) {
	addStage(&acc.r, s)
	for _, x := range []struct {
		acc *string
		enc string
	}{{&acc.echo, s.EchoHDR}, {&acc.chat, s.ChatHDR}, {&acc.conn, s.ConnectHDR}} {
		if x.enc == "" {
			continue
		}
		if h, err := mergeHists(*x.acc, x.enc); err == nil {
			*x.acc = encodeHist(h)
		}
	}
	acc.reported++
}

// addStage adds s's counts to r (the histograms aside).
func addStage(r, s *stageResult) {
	r.Connected += s.Connected
	r.Opening += s.Opening
	r.Opened += s.Opened
	r.Closed += s.Closed
	r.Cancelled += s.Cancelled
	r.Failed += s.Failed
	for k, v := range s.Failures {
		if r.Failures == nil {
			r.Failures = map[string]int{}
		}
		r.Failures[k] += v
	}
	r.Disconnects += s.Disconnects
	r.EchoSent += s.EchoSent
	r.EchoRecv += s.EchoRecv
	r.EchoLost += s.EchoLost
	r.EchoExtra += s.EchoExtra
	r.EchoDup += s.EchoDup
	r.ChatSent += s.ChatSent
	r.ChatRecv += s.ChatRecv
	r.WhisperSent += s.WhisperSent
	r.WhisperEchoes += s.WhisperEchoes
	r.Bytes += s.Bytes
	r.Other += s.Other
	r.Late += s.Late
	r.LateRecv += s.LateRecv
}

// lose marks worker w lost: it reports no more, and the seconds it did
// not report are left out of the loss accounting.
func (a *mixAgg) lose(w int, why string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if w >= 0 && w < len(a.final) && !a.final[w] {
		a.final[w] = true
		a.lost[w] = why
		a.fold()
	}
}

// fold folds the seconds every worker has reported into their stages.
func (a *mixAgg) fold() {
	limit := a.limit()
	for b, p := range a.pend {
		if b < limit {
			a.foldOne(p)
			delete(a.pend, b)
		}
	}
}

// limit is the first second not reported by every worker.
func (a *mixAgg) limit() int64 {
	limit := int64(-1)
	for _, t := range a.through {
		if limit < 0 || t < limit {
			limit = t
		}
	}
	return limit
}

func (a *mixAgg) foldOne(b *mixBucket) {
	s := min(a.sched.stageAt(a.sched.bucketStart(b.B)), len(a.st)-1)
	for _, l := range []*lossAcc{&a.run, &a.st[s].loss} {
		exp := b.Acked * b.Stable
		l.sent += b.Sent
		l.acked += b.Acked
		l.expB += exp
		l.gotB += b.Recv
		l.lostB += max(0, exp-b.Recv)
		l.extraB += max(0, b.Recv-exp)
		l.sentW += b.SentW
		l.gotW += b.RecvW
		l.lostW += max(0, b.SentW-b.RecvW)
		l.extraW += max(0, b.RecvW-b.SentW)
		l.seconds++
	}
}

// liveLoss is the chat loss of the seconds folded so far: for the live view.
func (a *mixAgg) liveLoss() (expected, lost int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.run.expB + a.run.sentW, a.run.lostB + a.run.lostW
}

// fill writes the stages and the mix into rep, whose whole-run counts
// fillReport made; the messages become the mix's.
func (a *mixAgg) fill(rep *Report) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fold()
	window := a.limit() // the seconds every worker reported
	cfg := a.cfg
	m := cfg.Mix
	mr := &MixReport{EchoRate: m.EchoRate, ChatRate: m.ChatRate, Payload: m.Payload, Whisper: m.Whisper,
		Paths: fmt.Sprintf("idle %s, echo %s, chat %s", m.IdlePath, m.EchoPath, m.ChatPath)}
	for k := range cfg.Procs {
		kinds, json := dealMix(m, mixShare(cfg.Conns, cfg.Procs, k))
		for j, kd := range kinds {
			switch kd {
			case kindIdle:
				mr.Idle++
			case kindEcho:
				mr.Echo++
			default:
				mr.Chat++
			}
			if json[j] {
				mr.JSON++
			}
		}
	}
	var lost []string
	for w, why := range a.lost {
		lost = append(lost, fmt.Sprintf("worker %d: %s", w, why))
	}
	sort.Strings(lost)
	echoAll, chatAll := newHist(), newHist()
	var tot stageResult
	var dur float64
	rep.Stages = make([]StageReport, len(a.st))
	for i := range a.st {
		acc := &a.st[i]
		r := &acc.r
		b, e := a.sched.begin(i), a.sched.ends[i]
		sr := StageReport{Stage: i + 1, Name: cfg.Stages[i].Name, StartSec: float64(b) / 1e9, EndSec: float64(e) / 1e9,
			Target: cfg.Stages[i].Target, Connected: r.Connected, Opening: r.Opening, Opened: r.Opened, Closed: r.Closed, Cancelled: r.Cancelled, Failed: r.Failed,
			Failures: r.Failures, Disconnects: r.Disconnects, Skipped: r.Late, Duplicated: r.EchoDup}
		sr.Sent = r.EchoSent + r.ChatSent
		sr.Received = r.EchoRecv + r.ChatRecv
		l := acc.loss
		sr.Expected = r.EchoSent + l.expB + l.sentW
		sr.Lost = r.EchoLost + l.lostB + l.lostW
		sr.Extra = r.EchoExtra + l.extraB + l.extraW
		sr.Refused = max(0, l.sent-l.acked)
		if sr.Expected > 0 {
			sr.LossPct = 100 * float64(sr.Lost) / float64(sr.Expected)
		}
		if d := float64(e-b) / 1e9; d > 0 {
			sr.SentPerSec, sr.PerSec, sr.MBPerSec = float64(sr.Sent)/d, float64(sr.Received)/d, float64(r.Bytes)/d/1e6
			dur += d
		}
		echo, _ := decodeHist(acc.echo)
		chat, _ := decodeHist(acc.chat)
		conn, _ := decodeHist(acc.conn)
		both := newHist()
		both.Merge(echo)
		both.Merge(chat)
		sr.Latency, sr.EchoRTT, sr.Delivery, sr.ConnectTime = latencyOf(both), latencyOf(echo), latencyOf(chat), latencyOf(conn)
		if acc.reported < cfg.Procs && len(lost) > 0 {
			sr.Partial = fmt.Sprintf("%d of %d workers reported this stage (%s)", acc.reported, cfg.Procs, strings.Join(lost, "; "))
		}
		rep.Stages[i] = sr
		echoAll.Merge(echo)
		chatAll.Merge(chat)
		addStage(&tot, r)
	}
	l := a.run
	mr.EchoSent, mr.EchoReceived, mr.EchoLost, mr.EchoExtra, mr.EchoDup = tot.EchoSent, tot.EchoRecv, tot.EchoLost, tot.EchoExtra, tot.EchoDup
	mr.EchoRTT, mr.Delivery = latencyOf(echoAll), latencyOf(chatAll)
	mr.ChatSent, mr.ChatAccepted, mr.ChatRefused, mr.Deliveries = tot.ChatSent, l.acked, max(0, l.sent-l.acked), tot.ChatRecv
	mr.Expected, mr.Counted, mr.Lost, mr.Extra = l.expB+l.sentW, l.gotB+l.gotW, l.lostB+l.lostW, l.extraB+l.extraW
	mr.LateReceipts = tot.LateRecv
	mr.WindowSec = min(float64(window), dur)
	if m.Whisper > 0 {
		mr.Whispers = &WhisperReport{Sent: tot.WhisperSent, Expected: l.sentW, Received: l.gotW, Lost: l.lostW, Echoes: tot.WhisperEchoes}
	}
	rep.Mix = mr

	msg := &MessageReport{Sent: tot.EchoSent + tot.ChatSent, Received: tot.EchoRecv + tot.ChatRecv, Other: tot.Other,
		Expected: tot.EchoSent + mr.Expected, Lost: mr.EchoLost + mr.Lost, Extra: mr.EchoExtra + mr.Extra,
		Refused: mr.ChatRefused, Skipped: tot.Late, Duplicated: tot.EchoDup, DurationSec: dur, Whispers: mr.Whispers,
		PayloadBytes: tot.Bytes}
	if rep.Messages != nil {
		msg.WireBytes = rep.Messages.WireBytes
	}
	if msg.Expected > 0 {
		msg.LossPct = 100 * float64(msg.Lost) / float64(msg.Expected)
	}
	if dur > 0 {
		msg.SentPerSec, msg.PerSec, msg.MBPerSec = float64(msg.Sent)/dur, float64(msg.Received)/dur, float64(tot.Bytes)/dur/1e6
	}
	if msg.Received > 0 {
		msg.PayloadBytesPerMsg = float64(tot.Bytes) / float64(msg.Received)
		msg.WireBytesPerMsg = float64(msg.WireBytes) / float64(msg.Received)
	}
	rep.Messages = msg
	rep.Conns.OpenAtStart = 0
	rep.Params.RampRate = 0 // the stages set the pace
	// Memory per connection: the servers' "after" is taken at the end of
	// the run, with the last stage's connections open (none after a ramp
	// down: no figure then; the stages' own figures say more).
	open := float64(rep.Stages[len(rep.Stages)-1].Connected)
	for i := range rep.Servers {
		s := &rep.Servers[i]
		s.RSSBytesPerConn = 0
		if open > 0 {
			s.RSSBytesPerConn = float64(s.RSSAfterBytes-s.RSSBeforeBytes) / open
		}
	}
	if s := rep.Sockstat; s != nil {
		s.BytesPerConn = 0
		if open > 0 {
			s.BytesPerConn = float64((s.TCPMemPagesAfter-s.TCPMemPagesBefore)*int64(s.PageSize)) / open
		}
	}
}

// stageMemory fills each stage's server memory from the samples taken at
// the stages' ends (nil: none taken).
func stageMemory(rep *Report, snaps []*serverSnap, pids []int) {
	var before int64
	for _, s := range rep.Servers {
		if s.PID != 0 {
			before += s.RSSBeforeBytes
		}
	}
	for i, snap := range snaps {
		if snap == nil || i >= len(rep.Stages) {
			continue
		}
		sr := &rep.Stages[i]
		for _, pid := range pids {
			sr.ServerRSSBytes += snap.procs[pid].rss
		}
		if sr.Connected > 0 && before > 0 {
			sr.RSSBytesPerConn = float64(sr.ServerRSSBytes-before) / float64(sr.Connected)
		}
	}
}
