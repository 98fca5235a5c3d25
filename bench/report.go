package bench

import (
	"errors"
	"os"
)

// newReport starts the report of a run with its parameters.
func newReport(cfg *Config) *Report {
	r := &Report{Schema: SchemaVersion, Scenario: cfg.Scenario, URL: cfg.URL, Procs: cfg.Procs, Loops: cfg.Loops,
		Params: Params{Conns: cfg.Conns, RampRate: cfg.RampRate, DurationSec: cfg.Duration.Seconds()},
		Conns:  ConnReport{Target: cfg.users()}, Series: []Second{}}
	if len(cfg.URLs) > 1 {
		r.Islands = cfg.Islands
		r.Nodes = make([]NodeCounts, len(cfg.URLs))
		for i, u := range cfg.URLs {
			r.Nodes[i].URL = u
		}
		for i := range cfg.users() {
			r.Nodes[cfg.NodeOf(i)].Users++
		}
	}
	switch cfg.Scenario {
	case Echo, AttackInbound:
		r.Params.Payload, r.Params.InFlight, r.Params.DrainSec = cfg.Payload, cfg.InFlight, cfg.Drain.Seconds()
	case Broadcast, AttackOutbound:
		r.Params.Payload, r.Params.Senders, r.Params.Rate, r.Params.DrainSec = cfg.Payload, cfg.Senders, cfg.Rate, cfg.Drain.Seconds()
	case Chat:
		r.Params.Payload, r.Params.TalkFrac, r.Params.TalkRate = cfg.Payload, cfg.TalkFrac, cfg.TalkRate
		r.Params.WhisperFrac, r.Params.DrainSec = cfg.WhisperFrac, cfg.Drain.Seconds()
	}
	return r
}

// fillReport turns the merged result and the server snapshots into the
// report. startAt is the start of the load phase (Unix ns).
func fillReport(rep *Report, cfg *Config, m *workerResult, before, loadStart, after serverSnap, startAt int64) {
	rep.Conns.Connected = m.Connected
	rep.Conns.Failed = m.Failed
	rep.Conns.OpenAtStart = m.OpenAtStart
	rep.Conns.Disconnects = m.Disconnects
	if len(m.Failures) > 0 {
		rep.Conns.Failures = m.Failures
	}
	if len(m.FailureExamples) > 0 {
		rep.Conns.FailureExamples = map[string]string{}
		for k, v := range m.FailureExamples {
			rep.Conns.FailureExamples[k] = v.Msg
		}
	}
	ch, _ := decodeHist(m.ConnectHDR)
	rep.Conns.ConnectTime = latencyOf(ch)
	rep.Series = m.Series
	if rep.Series == nil {
		rep.Series = []Second{}
	}

	dur := cfg.Duration.Seconds()
	if m.LinesDone > startAt {
		// attack-outbound's send phase ended with its last line.
		dur = min(dur, max(float64(m.LinesDone-startAt)/1e9, 1e-3))
	}
	if cfg.Scenario != Connect {
		lh, _ := decodeHist(m.LatencyHDR)
		rep.Latency = latencyOf(lh)
		mr := &MessageReport{Sent: m.Sent, Received: m.Received, Other: m.Other, DurationSec: dur,
			SentPerSec: float64(m.Sent) / dur, PerSec: float64(m.Received) / dur,
			MBPerSec: float64(m.Bytes) / dur / 1e6, LateSends: m.LateSends, WindowSec: dur,
			PayloadBytes: m.Bytes, WireBytes: m.WireBytes}
		if m.Received > 0 {
			mr.PayloadBytesPerMsg = float64(m.Bytes) / float64(m.Received)
			mr.WireBytesPerMsg = float64(m.WireBytes) / float64(m.Received)
		}
		if cfg.Scenario == Echo || cfg.Scenario == AttackInbound {
			mr.Expected = m.Sent
			mr.Lost, mr.Extra = max(0, m.Sent-m.Received), max(0, m.Received-m.Sent)
		} else {
			// Only messages sent while every user was connected count: up to
			// the second of the first disconnect, if there was one.
			cut := len(m.SentB)
			if m.FirstDisconnect != 0 {
				cut = min(cut, max(0, int((m.FirstDisconnect-startAt)/1e9)))
				mr.WindowSec = min(dur, float64(cut))
			}
			// A broadcast counts once the server accepted it, which the
			// sender's own copy proves (the chat relays to everyone, sender
			// included); a refused one (rate limit) is expected nowhere.
			acked := sumTo(m.AckB, cut)
			mr.Refused = max(0, sumTo(m.SentB, cut)-acked)
			expB, _, lostB, extraB := broadcastCounts(rep, cfg, m, cut)
			expW, gotW := sumTo(m.SentW, cut), sumTo(m.RecvW, cut)
			mr.Expected = expB + expW
			mr.Lost = lostB + max(0, expW-gotW)
			mr.Extra = extraB + max(0, gotW-expW)
			if cfg.Scenario == Chat && cfg.WhisperFrac > 0 {
				mr.Whispers = &WhisperReport{Sent: sumTo(m.SentW, len(m.SentW)), Expected: expW, Received: gotW, Echoes: m.WhisperEchoes}
			}
		}
		if mr.Expected > 0 {
			mr.LossPct = 100 * float64(mr.Lost) / float64(mr.Expected)
		}
		rep.Messages = mr
	}

	if len(rep.Nodes) > 0 {
		for i := range rep.Nodes {
			n := &rep.Nodes[i]
			n.Connected, n.Failed = at(m.ConnectedN, i), at(m.FailedN, i)
			n.OpenAtStart, n.Sent, n.Received = at(m.OpenN, i), at(m.SentN, i), at(m.RecvN, i)
		}
	}
	conns := max(rep.Conns.OpenAtStart, 1)
	var sum ServerReport
	for _, pid := range cfg.ServerPIDs {
		b, s, a := before.procs[pid], loadStart.procs[pid], after.procs[pid]
		sr := ServerReport{PID: pid}
		if err := errors.Join(b.err, s.err, a.err); err != nil {
			sr.Error = err.Error()
		} else {
			sr.RSSBeforeBytes, sr.RSSAfterBytes = b.rss, a.rss
			sr.RSSBytesPerConn = float64(a.rss-b.rss) / float64(conns)
			sr.CPUSeconds = a.cpu - s.cpu
			if rep.Messages != nil && rep.Messages.Received > 0 {
				sr.CPUSecPerMillion = sr.CPUSeconds / (float64(rep.Messages.Received) / 1e6)
			}
			sum.RSSBeforeBytes += sr.RSSBeforeBytes
			sum.RSSAfterBytes += sr.RSSAfterBytes
			sum.CPUSeconds += sr.CPUSeconds
		}
		rep.Servers = append(rep.Servers, sr)
	}
	if len(cfg.ServerPIDs) > 1 {
		sum.RSSBytesPerConn = float64(sum.RSSAfterBytes-sum.RSSBeforeBytes) / float64(conns)
		if rep.Messages != nil && rep.Messages.Received > 0 {
			sum.CPUSecPerMillion = sum.CPUSeconds / (float64(rep.Messages.Received) / 1e6)
		}
		rep.Servers = append(rep.Servers, sum)
	}
	if before.tcpErr == nil && after.tcpErr == nil {
		page := os.Getpagesize()
		rep.Sockstat = &SockstatReport{TCPMemPagesBefore: before.tcpMem, TCPMemPagesAfter: after.tcpMem, PageSize: page,
			BytesPerConn: float64((after.tcpMem-before.tcpMem)*int64(page)) / float64(conns)}
	}
}

// broadcastCounts is the broadcast accounting of the messages sent in the
// first cut seconds, pair of URLs by pair: the senders on URL i had acked_i
// broadcasts accepted (their own copy came back), each expected by the
// open_j users on every URL j of a cluster, or on URL i only for islands.
// Loss and extra are counted per pair, so that a surplus on one pair does
// not hide a loss on another. It fills the per-URL part of rep.Nodes.
func broadcastCounts(rep *Report, cfg *Config, m *workerResult, cut int) (exp, got, lost, extra int64) {
	if len(m.AckN) == 0 {
		// One URL, from a worker that kept no per-URL arrays: the totals are
		// its only pair.
		one := *m
		one.AckN, one.RecvX, one.OpenN = [][]int64{m.AckB}, [][]int64{m.RecvB}, []int{m.OpenAtStart}
		m = &one
	}
	n := len(m.AckN)
	for i := range n {
		acked := sumTo(m.AckN[i], cut)
		for j := range n {
			var e int64
			if !cfg.Islands || i == j {
				e = acked * int64(at(m.OpenN, j))
			}
			var g int64
			if k := i*n + j; k < len(m.RecvX) {
				g = sumTo(m.RecvX[k], cut)
			}
			exp, got = exp+e, got+g
			lost, extra = lost+max(0, e-g), extra+max(0, g-e)
			if j < len(rep.Nodes) {
				nd := &rep.Nodes[j]
				nd.Expected += e
				nd.Lost += max(0, e-g)
				if i != j {
					nd.FromOther += g
				}
			}
		}
		if i < len(rep.Nodes) {
			rep.Nodes[i].Accepted = acked
		}
	}
	return exp, got, lost, extra
}

// at is a[i], or zero past its end.
func at[T int | int64](a []T, i int) T {
	if i < len(a) {
		return a[i]
	}
	return 0
}
