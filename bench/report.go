package bench

import (
	"errors"
	"fmt"
	"math"
	"os"
	"time"
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
		r.Params.Payload, r.Params.DrainSec = cfg.Payload, cfg.Drain.Seconds()
		if cfg.openLoop() {
			r.Params.Rate, r.Params.ConnRate = cfg.Rate, cfg.ConnRate
		} else {
			r.Params.InFlight = cfg.InFlight
		}
	case Broadcast, AttackOutbound:
		r.Params.Payload, r.Params.Senders, r.Params.Rate, r.Params.DrainSec = cfg.Payload, cfg.Senders, cfg.Rate, cfg.Drain.Seconds()
	case Chat:
		r.Params.Payload, r.Params.TalkFrac, r.Params.TalkRate = cfg.Payload, cfg.TalkFrac, cfg.TalkRate
		r.Params.WhisperFrac, r.Params.DrainSec = cfg.WhisperFrac, cfg.Drain.Seconds()
	}
	return r
}

// fillReport turns the merged result and the server snapshots into the
// report. startAt is the start of the load phase (clock.go ns), seed the
// run's.
func fillReport(rep *Report, cfg *Config, m *workerResult, before, loadStart, after serverSnap, startAt int64, seed uint64) {
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
	th, _ := decodeHist(m.TLSHDR)
	rep.Conns.TLSHandshakeTime = latencyOf(th)
	if m.RampBegin != 0 && m.LastOpen > m.RampBegin && m.Connected > 1 {
		rep.Conns.RampSec = float64(m.LastOpen-m.RampBegin) / 1e9
		rep.Conns.RampAchieved = float64(m.Connected) / rep.Conns.RampSec
	}
	rep.Series = m.Series
	if rep.Series == nil {
		rep.Series = []Second{}
	}
	if cfg.Scenario != Connect {
		fillMessages(rep, cfg, m, startAt, seed)
	}
	if len(rep.Nodes) > 0 {
		for i := range rep.Nodes {
			n := &rep.Nodes[i]
			n.Connected, n.Failed = at(m.ConnectedN, i), at(m.FailedN, i)
			n.OpenAtStart, n.Sent, n.Received = at(m.OpenN, i), at(m.SentN, i), at(m.RecvN, i)
		}
	}
	fillServers(rep, cfg, before, loadStart, after)
	rep.ClockStepUs = float64(m.ClockStepNs) / 1e3
	if cfg.Procs > 1 && abs64(m.ClockStepNs) >= clockStepWarnAt {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf(
			"the wall clock stepped by %v during this multi-process run: a latency measured across processes (sent by one worker, received by another) may be off by as much",
			time.Duration(m.ClockStepNs)))
	}
	if m.Negative > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf(
			"%s latencies were negative (the clocks of two processes disagree) and were recorded as the smallest value", count(m.Negative)))
	}
}

// fillMessages fills the message counts and latencies of echo, broadcast
// and chat.
func fillMessages(rep *Report, cfg *Config, m *workerResult, startAt int64, seed uint64) {
	dur := cfg.Duration.Seconds()
	if m.LinesDone > startAt {
		// attack-outbound's send phase ended with its last line.
		dur = min(dur, max(float64(m.LinesDone-startAt)/1e9, 1e-3))
	}
	lh, _ := decodeHist(m.LatencyHDR)
	rep.Latency = latencyOf(lh)
	rep.LatencyFrom = "scheduled"
	echo := cfg.Scenario == Echo || cfg.Scenario == AttackInbound
	if echo && !cfg.openLoop() {
		rep.LatencyFrom = "sent"
		if lh.TotalCount() > 0 {
			interval := lh.ValueAtQuantile(50)
			rep.LatencyCorrected = latencyOf(correctedHist(lh, interval))
			rep.LatencyCorrected.CorrectedIntervalUs = float64(interval)
		}
	}
	if gh, _ := decodeHist(m.LagHDR); gh.TotalCount() > 0 {
		rep.SendLag = latencyOf(gh)
	}
	mr := &MessageReport{Sent: m.Sent, Received: m.Received, Other: m.Other, DurationSec: dur,
		SentPerSec: float64(m.Sent) / dur, PerSec: float64(m.Received) / dur,
		MBPerSec: float64(m.Bytes) / dur / 1e6, Skipped: m.Skipped, ReorderedBeyondWindow: m.Beyond,
		PayloadBytes: m.Bytes, WireBytes: m.WireBytes}
	if m.Received > 0 {
		mr.PayloadBytesPerMsg = float64(m.Bytes) / float64(m.Received)
		mr.WireBytesPerMsg = float64(m.WireBytes) / float64(m.Received)
	}
	if echo {
		mr.Expected, mr.Lost = m.Sent, m.Sent-m.EchoFirst
		mr.Duplicated, mr.Extra = m.EchoDup, m.EchoExtra
	} else {
		a := account(cfg, seed, m, startAt)
		mr.Refused = a.refused
		mr.Extra = m.Unknown
		n := len(cfg.URLs)
		for i, p := range a.pairs {
			mr.Expected += p.expected
			mr.Lost += p.lost
			mr.Duplicated += p.Duplicated
			mr.Extra += p.Extra
			if j := i % n; j < len(rep.Nodes) {
				nd := &rep.Nodes[j]
				nd.Expected += p.expected
				nd.Lost += p.lost
				nd.Duplicated += p.Duplicated
				nd.Extra += p.Extra
				if i/n != j {
					nd.FromOther += p.First
				}
			}
		}
		for i := range rep.Nodes {
			rep.Nodes[i].Accepted = at(a.accepted, i)
		}
		if cfg.Scenario == Chat && cfg.WhisperFrac > 0 {
			mr.Whispers = &WhisperReport{Sent: a.whispersSent, Expected: a.whispersExpected, Received: a.whispersFirst,
				Lost: a.whispersExpected - a.whispersFirst, Echoes: m.WhisperEchoes}
		}
		if e := a.inconsistent(cfg.URLs); e != "" {
			rep.Warnings = append(rep.Warnings, e)
		}
		if a.undelivered > 0 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf(
				"%s broadcasts had arrived nowhere by the end of the drain, not even back at their sender, nor had any later one of their sender: counted as lost at every user (a server still holding them, or one that dropped them; a longer --drain tells which)",
				count(a.undelivered)))
		}
		if a.forged > 0 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf(
				"%s sequence numbers arrived that their sender never sent (skipped or not yet due): the server invented messages", count(a.forged)))
		}
	}
	if mr.Expected > 0 {
		mr.LossPct = 100 * float64(mr.Lost) / float64(mr.Expected)
	}
	if m.Skipped > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf(
			"the client fell behind its schedule: %s messages were more than %v late and were skipped (not sent, not expected); the client, not the server, was too slow",
			count(m.Skipped), time.Duration(lateLimit)))
	}
	if m.Beyond > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf(
			"%s copies arrived more than %d messages behind their sender's newest and were counted as duplicates: a very late first copy cannot be told from one",
			count(m.Beyond), windowLen))
	}
	rep.Messages = mr
}

// fillServers fills the servers' memory and CPU and the kernel's TCP
// memory. RSS per connection is the change from the baseline taken just
// before the first dial, over the connections open at the start.
func fillServers(rep *Report, cfg *Config, before, loadStart, after serverSnap) {
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
			// The whole comes from the process's CPU clock (nanoseconds),
			// the system part from /proc/PID/stat in clock ticks (10 ms):
			// over a short span the ticks may exceed the whole (a run of
			// 20 ms of CPU read 30 ms of system time), so the part is
			// bounded by the whole.
			sr.CPUSeconds = a.cpu - s.cpu
			sr.SysSeconds = min(ticks(a.sys-s.sys), sr.CPUSeconds)
			sr.CtxSwitches, sr.VolCtxSwitches = a.csw-s.csw, a.vcs-s.vcs
			perMessage(&sr, rep.Messages)
			sum.RSSBeforeBytes += sr.RSSBeforeBytes
			sum.RSSAfterBytes += sr.RSSAfterBytes
			sum.CPUSeconds += sr.CPUSeconds
			sum.SysSeconds += sr.SysSeconds
			sum.CtxSwitches += sr.CtxSwitches
			sum.VolCtxSwitches += sr.VolCtxSwitches
			if a.rss < b.rss && !cfg.Scenario.attack() {
				sr.RSSFell = true
				rep.Warnings = append(rep.Warnings, fmt.Sprintf(
					"server pid %d: RSS fell from %s to %s while connections were added (a server still returning the memory of earlier load?): its memory per connection means nothing; measure a freshly started server",
					pid, size(b.rss), size(a.rss)))
			}
		}
		rep.Servers = append(rep.Servers, sr)
	}
	if len(cfg.ServerPIDs) > 1 {
		sum.RSSBytesPerConn = float64(sum.RSSAfterBytes-sum.RSSBeforeBytes) / float64(conns)
		sum.RSSFell = sum.RSSAfterBytes < sum.RSSBeforeBytes && !cfg.Scenario.attack()
		perMessage(&sum, rep.Messages)
		rep.Servers = append(rep.Servers, sum)
	}
	if before.tcpErr == nil && after.tcpErr == nil {
		page := os.Getpagesize()
		rep.Sockstat = &SockstatReport{Scope: "machine", TCPMemPagesBefore: before.tcpMem, TCPMemPagesAfter: after.tcpMem, PageSize: page,
			BytesPerConn: float64((after.tcpMem-before.tcpMem)*int64(page)) / float64(conns)}
	}
}

// ticks rounds seconds to whole clock ticks (1/clockTicks s).
func ticks(sec float64) float64 { return math.Round(sec*clockTicks) / clockTicks }

// perMessage sets sr's per-message figures from the messages received.
func perMessage(sr *ServerReport, m *MessageReport) {
	if m == nil || m.Received == 0 {
		return
	}
	sr.CPUSecPerMillion = sr.CPUSeconds / (float64(m.Received) / 1e6)
	sr.CtxSwitchesPerMsg = float64(sr.CtxSwitches) / float64(m.Received)
	sr.VolCtxSwitchesPerMsg = float64(sr.VolCtxSwitches) / float64(m.Received)
}

// at is a[i], or the zero value past its end.
func at[T any](a []T, i int) T {
	if i < len(a) {
		return a[i]
	}
	var zero T
	return zero
}
