package bench

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// AttackReport is the part of a Report only the attack scenarios have.
type AttackReport struct {
	// Attackers is how many attackers (inbound: open when the attack
	// began) or hogs (outbound: upgraded) there were.
	Attackers int `json:"attackers"`
	// BytesSent is what the inbound attackers wrote in total: frame
	// headers and the partial bodies (and trickled bytes).
	BytesSent int64 `json:"bytes_sent,omitempty"`
	// Closed counts attackers or hogs the server closed; OpenAtEnd those
	// still open when the attack ended.
	Closed    int `json:"closed"`
	OpenAtEnd int `json:"open_at_end"`
	// CloseCodes counts the closed ones by the close code they received
	// ("1013" try again later, "1008" policy, "1009" too big, ...), and
	// "none" for a TCP close without a close frame.
	CloseCodes map[string]int `json:"close_codes"`
	// Inbound: when the server closed attackers, in seconds since the
	// attack began (not known for hogs, which only read at the end).
	FirstCloseSec  float64 `json:"first_close_sec,omitempty"`
	MedianCloseSec float64 `json:"median_close_sec,omitempty"`
	LastCloseSec   float64 `json:"last_close_sec,omitempty"`
	// HogBytesRead is what the hogs found to read when they finally did,
	// at the end (what the server and the kernels still held for them).
	HogBytesRead int64 `json:"hog_bytes_read,omitempty"`
	// Healthy is the healthy clients (outbound: plus the sender), and
	// HealthyLost those the server closed during the attack. Their
	// messages are the report's Messages and Latency.
	Healthy     int `json:"healthy"`
	HealthyLost int `json:"healthy_lost"`
}

// fillAttack adds the attack part of a report: the attackers' fates and
// the servers' peak, end and settled RSS. end is the snapshot at the end of
// the attack, settled the one Settle after its connections were gone.
func fillAttack(rep *Report, cfg *Config, m *workerResult, end, settled serverSnap, peak *peakSampler) {
	p := &rep.Params
	p.Healthy, p.SettleSec = cfg.Healthy, cfg.Settle.Seconds()
	switch cfg.Scenario {
	case AttackInbound:
		p.FrameSize, p.SendFrac, p.TrickleSec = cfg.FrameSize, cfg.SendFrac, cfg.Trickle.Seconds()
	case AttackOutbound:
		p.Lines, p.HogRcvBuf, p.Payload, p.Rate = cfg.Lines, cfg.HogRcvBuf, cfg.Payload, cfg.Rate
	}
	a := &AttackReport{CloseCodes: map[string]int{}, Healthy: rep.Conns.OpenAtStart, HealthyLost: rep.Conns.Disconnects}
	if r := m.Attack; r != nil {
		a.Attackers, a.BytesSent, a.OpenAtEnd, a.HogBytesRead = r.Attackers, r.Bytes, r.OpenAtEnd, r.HogBytes
		a.Closed = len(r.Closes)
		var ms []int64
		for _, c := range r.Closes {
			a.CloseCodes[closeKey(c.Code)]++
			if c.Ms >= 0 {
				ms = append(ms, c.Ms)
			}
		}
		if len(ms) > 0 {
			sort.Slice(ms, func(i, j int) bool { return ms[i] < ms[j] })
			a.FirstCloseSec = float64(ms[0]) / 1e3
			a.MedianCloseSec = float64(ms[len(ms)/2]) / 1e3
			a.LastCloseSec = float64(ms[len(ms)-1]) / 1e3
		}
	}
	rep.Attack = a
	if s := rep.Sockstat; s != nil {
		// Over every connection the attack opened, not the healthy ones.
		s.BytesPerConn = float64((s.TCPMemPagesAfter-s.TCPMemPagesBefore)*int64(s.PageSize)) / float64(max(a.Attackers+a.Healthy, 1))
	}

	var sum ServerReport
	for i := range rep.Servers {
		sr := &rep.Servers[i]
		if sr.PID == 0 { // the sum, last
			sr.RSSPeakBytes, sr.RSSEndBytes, sr.RSSAfterBytes = sum.RSSPeakBytes, sum.RSSEndBytes, sum.RSSAfterBytes
			sr.RSSBytesPerConn = float64(sr.RSSPeakBytes-sr.RSSBeforeBytes) / float64(max(a.Attackers, 1))
			continue
		}
		e, s := end.procs[sr.PID], settled.procs[sr.PID]
		if sr.Error != "" || e.err != nil || s.err != nil {
			if sr.Error == "" {
				sr.Error = fmt.Sprint(e.err, s.err)
			}
			continue
		}
		sr.RSSEndBytes, sr.RSSAfterBytes = e.rss, s.rss
		// The sampler may miss a peak between two reads: never report one
		// below a snapshot.
		sr.RSSPeakBytes = max(peak.peak[sr.PID], sr.RSSBeforeBytes, e.rss, s.rss)
		sr.RSSPeakSec = peak.at[sr.PID]
		sr.RSSBytesPerConn = float64(sr.RSSPeakBytes-sr.RSSBeforeBytes) / float64(max(a.Attackers, 1))
		sum.RSSPeakBytes += sr.RSSPeakBytes
		sum.RSSEndBytes += sr.RSSEndBytes
		sum.RSSAfterBytes += sr.RSSAfterBytes
	}
}

// closeKey is the CloseCodes key of a close code.
func closeKey(code int) string {
	if code == 0 {
		return "none"
	}
	return strconv.Itoa(code)
}

// writeAttackText writes the attack part of the text report.
func (r *Report) writeAttackText(line func(k, format string, a ...any)) {
	a, p := r.Attack, r.Params
	if a == nil {
		return
	}
	switch r.Scenario {
	case AttackInbound:
		how := "then stalled"
		if p.TrickleSec > 0 {
			how = "then trickled a byte every " + trimFloat(p.TrickleSec) + " s"
		}
		line("attack", "%d attackers, each sent the header of a %s-byte frame and %s%% of it, %s (%s written in total)",
			a.Attackers, count(int64(p.FrameSize)), trimFloat(100*p.SendFrac), how, size(a.BytesSent))
	case AttackOutbound:
		line("attack", "%d hogs that never read (SO_RCVBUF %d), 1 sender: %d lines of %d B at %s/s",
			a.Attackers, p.HogRcvBuf, p.Lines, p.Payload, trimFloat(p.Rate))
	}
	closed := fmt.Sprintf("%d by the server", a.Closed)
	if len(a.CloseCodes) > 0 {
		codes := make([]string, 0, len(a.CloseCodes))
		for _, k := range sortedKeys(a.CloseCodes) {
			codes = append(codes, fmt.Sprintf("%d with %s", a.CloseCodes[k], k))
		}
		closed += " (close code: " + strings.Join(codes, ", ") + ")"
	}
	closed += fmt.Sprintf(", %d still open at the end", a.OpenAtEnd)
	if a.Closed > 0 && r.Scenario == AttackInbound {
		closed += fmt.Sprintf("; closes at %s s (first), %s s (median), %s s (last) after the start",
			strconv.FormatFloat(a.FirstCloseSec, 'f', 2, 64), strconv.FormatFloat(a.MedianCloseSec, 'f', 2, 64), strconv.FormatFloat(a.LastCloseSec, 'f', 2, 64))
	}
	line("  closed", "%s", closed)
	if r.Scenario == AttackOutbound {
		line("  hogs' backlog", "%s read by the hogs at the end", size(a.HogBytesRead))
	}
	who := "clients"
	if r.Scenario == AttackOutbound {
		who = "members (the sender included)"
	}
	line("healthy", "%d %s open at the start, %d closed by the server during the attack", a.Healthy, who, a.HealthyLost)
}
