package bench

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText writes the human-readable report: one line per aspect.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, a...)) }
	p := r.Params
	procs := "process"
	if r.Procs > 1 {
		procs = "processes"
	}
	target := r.URL
	if len(r.Nodes) > 1 {
		kind := "cluster"
		if r.Islands {
			kind = "islands"
		}
		target = fmt.Sprintf("%s and %d more URLs (%s)", r.URL, len(r.Nodes)-1, kind)
	}
	line("wsbench "+string(r.Scenario), "%s  (%d %s x %d loops)", target, r.Procs, procs, r.Loops)
	params := fmt.Sprintf("%d conns, ramp %s/s, %s s", p.Conns, count(int64(p.RampRate)), trimFloat(p.DurationSec))
	switch r.Scenario {
	case Connect:
		params = fmt.Sprintf("%d conns, ramp %s/s, hold %s s", p.Conns, count(int64(p.RampRate)), trimFloat(p.DurationSec))
	case Echo:
		if p.Rate > 0 {
			params += fmt.Sprintf(", payload %d B, open loop at %s msg/s (%s per conn)", p.Payload, trimFloat(p.Rate), trimFloat(p.ConnRate))
		} else {
			params += fmt.Sprintf(", payload %d B, closed loop with %d in flight per conn", p.Payload, p.InFlight)
		}
	case Broadcast:
		params += fmt.Sprintf(", %d senders at %s msg/s in total, payload %d B", p.Senders, trimFloat(p.Rate), p.Payload)
	case Chat:
		params += fmt.Sprintf(", %s%% talking at %s msg/s each, %s%% whispers, payload %d B",
			trimFloat(100*p.TalkFrac), trimFloat(p.TalkRate), trimFloat(100*p.WhisperFrac), p.Payload)
	case AttackInbound:
		params = fmt.Sprintf("%d attackers + %d healthy (echo payload %d B), attack %s s, settle %s s",
			p.Conns, p.Healthy, p.Payload, trimFloat(p.DurationSec), trimFloat(p.SettleSec))
	case AttackOutbound:
		params = fmt.Sprintf("%d hogs + %d healthy + 1 sender, attack %s s, settle %s s",
			p.Conns, p.Healthy, trimFloat(p.DurationSec), trimFloat(p.SettleSec))
	case Mixed:
		params = r.mixParams()
	}
	line("params", "%s", params)
	c := r.Conns
	if r.Scenario == Mixed {
		r.writeMixConns(line)
	} else {
		line("connections", "%d/%d connected, %d open at start, %d failed, %d disconnects", c.Connected, c.Target, c.OpenAtStart, c.Failed, c.Disconnects)
	}
	if c.ConnectTime != nil {
		line("connect time", "%s  (from each dial's due time on the ramp)", percentiles(c.ConnectTime))
	}
	if c.RampAchieved > 0 {
		line("ramp", "requested %s/s, achieved %s/s (%s open %.2f s after the first dial was due)",
			count(int64(p.RampRate)), count(int64(c.RampAchieved)), count(int64(c.Connected)), c.RampSec)
	}
	if c.TLSHandshakeTime != nil {
		line("TLS handshake", "%s", percentiles(c.TLSHandshakeTime))
	}
	for _, k := range sortedKeys(c.Failures) {
		line("  failed: "+k, "%d  %s", c.Failures[k], c.FailureExamples[k])
	}
	if ex, ok := c.FailureExamples["disconnect"]; ok && c.Disconnects > 0 {
		line("  disconnect", "%s", ex)
	}
	for i, n := range r.Nodes {
		line(fmt.Sprintf("  node %d", i), "%s  %d/%d connected, %d open at start, %d failed", n.URL, n.Connected, n.Users, n.OpenAtStart, n.Failed)
	}
	r.writeAttackText(line)
	if m := r.Messages; m != nil {
		noun := "deliveries"
		if r.Scenario == Echo || r.Scenario == AttackInbound {
			noun = "replies"
		}
		line("messages", "sent %s  received %s  expected %s  lost %s (%.3f%%)  duplicated %s  extra %s",
			count(m.Sent), count(m.Received), count(m.Expected), count(m.Lost), m.LossPct, count(m.Duplicated), count(m.Extra))
		if m.Refused > 0 {
			line("  refused", "%s sent messages arrived nowhere, not even back at their sender: the server refused them (rate limit?); not counted as expected", count(m.Refused))
		}
		if m.Skipped > 0 {
			line("  skipped", "%s scheduled messages not sent, each over %v late: the client fell behind (not the server)", count(m.Skipped), time.Duration(lateLimit))
		}
		for i, n := range r.Nodes {
			if r.Messages.Expected == 0 && n.Sent == 0 && n.Received == 0 {
				continue
			}
			from := "first copies from other nodes"
			if r.Islands {
				from = "from other islands (not expected)"
			}
			line(fmt.Sprintf("  node %d", i), "sent %s  accepted %s  received %s  expected %s  lost %s  duplicated %s  extra %s  %s %s",
				count(n.Sent), count(n.Accepted), count(n.Received), count(n.Expected), count(n.Lost), count(n.Duplicated), count(n.Extra), from, count(n.FromOther))
		}
		if w := m.Whispers; w != nil {
			line("  whispers", "sent %s  expected %s  received %s  lost %s  (echoed to sender %s)", count(w.Sent), count(w.Expected), count(w.Received), count(w.Lost), count(w.Echoes))
		}
		line("throughput", "%s %s/s  %.2f MB/s  (sent %s msg/s)", count(int64(m.PerSec)), noun, m.MBPerSec, count(int64(m.SentPerSec)))
		if m.Received > 0 {
			line("  bytes", "%.0f payload, %.0f on the wire per message (%.0f%%)", m.PayloadBytesPerMsg, m.WireBytesPerMsg,
				100*m.WireBytesPerMsg/max(m.PayloadBytesPerMsg, 1))
		}
	}
	if l := r.Latency; l != nil {
		name, from := "delivery latency", "from each message's due time"
		if r.Scenario == Echo || r.Scenario == AttackInbound {
			name = "round trip"
			if r.LatencyFrom == "sent" {
				name, from = "round trip, raw", "closed loop, from the actual send: hides server stalls, see corrected"
			} else {
				from = "open loop, from each message's due time"
			}
		}
		line(name, "%s  (%s)", percentiles(l), from)
	}
	if l := r.LatencyCorrected; l != nil {
		line("round trip, corrected", "%s  (for coordinated omission: RecordCorrectedValue with the raw median %s as expected interval)",
			percentiles(l), usec(l.CorrectedIntervalUs))
	}
	if l := r.SendLag; l != nil {
		line("send lag", "p50 %s  p99 %s  max %s  (client: each message's send after its due time, included above)",
			usec(l.P50Us), usec(l.P99Us), usec(l.MaxUs))
	}
	for _, s := range r.Servers {
		name := "server pid " + strconv.Itoa(s.PID)
		if s.PID == 0 {
			name = "servers (sum)"
		}
		if s.Error != "" {
			line(name, "%s", s.Error)
			continue
		}
		perConn := size(int64(s.RSSBytesPerConn)) + "/conn"
		if s.RSSFell {
			perConn = "RSS fell: per conn n/a"
		}
		v := fmt.Sprintf("RSS %s -> %s (%s, from just before the first dial)  CPU %.2f s", size(s.RSSBeforeBytes), size(s.RSSAfterBytes), perConn, s.CPUSeconds)
		if r.Attack != nil {
			v = fmt.Sprintf("RSS %s before, peak %s (at %s s; %s per attacker), %s at the end of the attack, %s after %s s settling  CPU %.2f s",
				size(s.RSSBeforeBytes), size(s.RSSPeakBytes), strconv.FormatFloat(s.RSSPeakSec, 'f', 1, 64), size(int64(s.RSSBytesPerConn)),
				size(s.RSSEndBytes), size(s.RSSAfterBytes), trimFloat(r.Params.SettleSec), s.CPUSeconds)
		}
		if s.CPUSecPerMillion > 0 {
			v += fmt.Sprintf(" (%.3f s per million msgs)", s.CPUSecPerMillion)
		}
		v += fmt.Sprintf(", %.2f s of it system, %d context switches (%d voluntary)", s.SysSeconds, s.CtxSwitches, s.VolCtxSwitches)
		if s.CtxSwitchesPerMsg > 0 {
			v += fmt.Sprintf(", %.3f per msg (%.3f)", s.CtxSwitchesPerMsg, s.VolCtxSwitchesPerMsg)
		}
		line(name, "%s", v)
	}
	if s := r.Sockstat; s != nil {
		line("kernel TCP mem", "%d -> %d pages (%s/conn; machine-wide: every TCP socket on this host, the client's ends included)",
			s.TCPMemPagesBefore, s.TCPMemPagesAfter, size(int64(s.BytesPerConn)))
	}
	for _, w := range r.Warnings {
		line("warning", "%s", w)
	}
	r.writeDeployText(line) // stages, agents, sources, thresholds
	if r.Error != "" {
		line("error", "%s", r.Error)
	}
	return tw.Flush()
}

// percentiles formats a latency summary.
func percentiles(l *Latency) string {
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (n=%s)",
		usec(l.P50Us), usec(l.P90Us), usec(l.P99Us), usec(l.P999Us), usec(l.MaxUs), count(l.Count))
}

// usec formats microseconds with a unit that keeps 3 digits.
func usec(us float64) string {
	switch {
	case us >= 1e6:
		return strconv.FormatFloat(us/1e6, 'f', 2, 64) + "s"
	case us >= 1e3:
		return strconv.FormatFloat(us/1e3, 'f', 2, 64) + "ms"
	}
	return strconv.FormatFloat(us, 'f', 0, 64) + "µs"
}

// count formats an integer with thousands separators.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// size formats bytes in binary units.
func size(n int64) string {
	f, unit := float64(n), "B"
	for _, u := range []string{"KiB", "MiB", "GiB"} {
		if f < 1024 && f > -1024 {
			break
		}
		f /= 1024
		unit = u
	}
	if unit == "B" {
		return strconv.FormatInt(n, 10) + " B"
	}
	return strconv.FormatFloat(f, 'f', 1, 64) + " " + unit
}

func trimFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func sortedKeys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
