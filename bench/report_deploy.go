package bench

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/components"
	"github.com/go-echarts/go-echarts/v2/opts"
)

// The text and HTML parts of staged runs, agents, source addresses and
// thresholds (the rest is report_text.go and report_html.go).

// mixParams is the params line of a staged run.
func (r *Report) mixParams() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d stages over %s s, peak %s connections", len(r.Stages), trimFloat(r.Params.DurationSec), count(int64(r.Params.Conns)))
	if m := r.Mix; m != nil {
		fmt.Fprintf(&b, "; %s idle, %s echo (%s/s each), %s chat (%s/s each", count(int64(m.Idle)), count(int64(m.Echo)),
			trimFloat(m.EchoRate), count(int64(m.Chat)), trimFloat(m.ChatRate))
		if m.Whisper > 0 {
			fmt.Fprintf(&b, ", %s%% whispered", trimFloat(100*m.Whisper))
		}
		fmt.Fprintf(&b, "), payload %d B", m.Payload)
		if m.JSON > 0 {
			fmt.Fprintf(&b, ", %s speaking JSON", count(int64(m.JSON)))
		}
		fmt.Fprintf(&b, "; %s", m.Paths)
	}
	return b.String()
}

// writeMixConns is the connections line of a staged run.
func (r *Report) writeMixConns(line func(k, format string, a ...any)) {
	c := r.Conns
	line("connections", "%s opened over the run (peak target %s), %s failed, %s disconnects", count(int64(c.Connected)),
		count(int64(c.Target)), count(int64(c.Failed)), count(int64(c.Disconnects)))
}

// writeDeployText writes the stages, the mix's own figures, the agents,
// the source addresses and the thresholds.
func (r *Report) writeDeployText(line func(k, format string, a ...any)) {
	if m := r.Mix; m != nil {
		if m.Echo > 0 {
			line("echo users", "sent %s  received %s  lost %s  extra %s", count(m.EchoSent), count(m.EchoReceived), count(m.EchoLost), count(m.EchoExtra))
			if m.EchoRTT != nil {
				line("  round trip", "%s", percentiles(m.EchoRTT))
			}
		}
		if m.Chat > 0 {
			line("chat users", "sent %s  accepted %s  refused %s  deliveries %s", count(m.ChatSent), count(m.ChatAccepted), count(m.ChatRefused), count(m.Deliveries))
			line("  accounted", "expected %s  received %s  lost %s  extra %s  (members there for the whole second and its drain, over %s s)",
				count(m.Expected), count(m.Counted), count(m.Lost), count(m.Extra), trimFloat(m.WindowSec))
			if m.LateReceipts > 0 {
				line("  late", "%s of the lost came after all, over --drain late", count(m.LateReceipts))
			}
			if m.Delivery != nil {
				line("  delivery", "%s", percentiles(m.Delivery))
			}
		}
	}
	for _, s := range r.Stages {
		name := "stage " + strconv.Itoa(s.Stage)
		if s.Name != "" {
			name += " (" + s.Name + ")"
		}
		open := count(int64(s.Connected))
		if s.Opening > 0 {
			open += " (+" + count(int64(s.Opening)) + " opening)"
		}
		v := fmt.Sprintf("%s-%s s, target %s: %s open at the end; opened %s, closed %s, failed %s, disconnects %s",
			trimFloat(s.StartSec), trimFloat(s.EndSec), count(int64(s.Target)), open, count(int64(s.Opened)),
			count(int64(s.Closed)), count(int64(s.Failed)), count(int64(s.Disconnects)))
		if s.Cancelled > 0 {
			v += fmt.Sprintf(", %s closed before connected", count(int64(s.Cancelled)))
		}
		line(name, "%s", v)
		for _, k := range sortedKeys(s.Failures) {
			line("  failed: "+k, "%d", s.Failures[k])
		}
		if s.Sent > 0 || s.Received > 0 {
			line("  messages", "sent %s (%s/s)  received %s (%s/s)  expected %s  lost %s (%.3f%%)  extra %s",
				count(s.Sent), count(int64(s.SentPerSec)), count(s.Received), count(int64(s.PerSec)), count(s.Expected),
				count(s.Lost), s.LossPct, count(s.Extra))
		}
		if s.Latency != nil {
			line("  latency", "%s", percentiles(s.Latency))
		}
		if s.EchoRTT != nil && s.Delivery != nil {
			line("  echo / chat p99", "%s / %s", usec(s.EchoRTT.P99Us), usec(s.Delivery.P99Us))
		}
		if s.ConnectTime != nil {
			line("  connect time", "%s", percentiles(s.ConnectTime))
		}
		if s.ServerRSSBytes > 0 {
			line("  server RSS", "%s at the end (%s/conn since before the first dial)", size(s.ServerRSSBytes), size(int64(s.RSSBytesPerConn)))
		}
		if s.Partial != "" {
			line("  partial", "%s", s.Partial)
		}
	}
	for _, a := range r.Agents {
		v := fmt.Sprintf("%s, %d workers, %s users: %s connected, %s failed, sent %s, received %s", a.Name, a.Workers,
			count(int64(a.Users)), count(int64(a.Connected)), count(int64(a.Failed)), count(a.Sent), count(a.Received))
		if a.Error != "" {
			v = "LOST: " + a.Error + "; " + v
		}
		line("agent "+a.Agent, "%s", v)
	}
	if len(r.Sources) > 0 {
		var parts []string
		for _, s := range r.Sources {
			parts = append(parts, s.Addr+" "+count(int64(s.Connected)))
		}
		for i := 0; i < len(parts); i += 8 {
			k := "  "
			if i == 0 {
				k = "source addresses"
			}
			line(k, "%s", strings.Join(parts[i:min(i+8, len(parts))], ", "))
		}
	}
	if len(r.Thresholds) > 0 {
		failed := 0
		for _, t := range r.Thresholds {
			if !t.Pass {
				failed++
			}
		}
		line("thresholds", "%d passed, %d failed", len(r.Thresholds)-failed, failed)
		for _, t := range r.Thresholds {
			verdict := "PASS"
			if !t.Pass {
				verdict = "FAIL"
			}
			v := t.Metric + " = " + t.Shown
			if t.Why != "" {
				v += " (" + t.Why + ")"
			}
			line("  "+verdict, "%s  %s", t.Threshold, v)
		}
	}
}

// addStageCharts adds a staged run's charts: the target and the open
// connections per second, and each stage's latency percentiles.
func (r *Report) addStageCharts(page *components.Page) {
	if len(r.Stages) == 0 {
		return
	}
	stages := make([]Stage, len(r.Stages))
	for i, s := range r.Stages {
		stages[i] = Stage{Duration: time.Duration((s.EndSec - s.StartSec) * 1e9), Target: s.Target}
	}
	// The series counts from the first dial, a moment before the stages.
	sched := newSchedule(0, stages)
	c := charts.NewLine()
	c.SetGlobalOptions(perSecondOpts("stages", "Stages: target and open connections", "conns")...)
	var x []string
	var target, open []opts.LineData
	for _, s := range r.Series {
		x = append(x, strconv.Itoa(s.T))
		target = append(target, opts.LineData{Value: sched.count(int64(s.T+1) * int64(time.Second))})
		open = append(open, opts.LineData{Value: s.Conns})
	}
	c.SetXAxis(x).AddSeries("target", target).AddSeries("open", open)
	page.AddCharts(c)

	b := charts.NewBar()
	b.SetGlobalOptions(
		chartInit("stagelatency"),
		charts.WithTitleOpts(opts.Title{Title: "Latency per stage"}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Right: "10%"}),
		charts.WithYAxisOpts(opts.YAxis{Name: "ms", Type: "log"}),
	)
	var names []string
	var p50, p99, p999 []opts.BarData
	for _, s := range r.Stages {
		n := "stage " + strconv.Itoa(s.Stage)
		if s.Name != "" {
			n = s.Name
		}
		names = append(names, n)
		l := s.Latency
		if l == nil {
			l = &Latency{}
		}
		p50 = append(p50, opts.BarData{Value: max(l.P50Us, 1) / 1e3})
		p99 = append(p99, opts.BarData{Value: max(l.P99Us, 1) / 1e3})
		p999 = append(p999, opts.BarData{Value: max(l.P999Us, 1) / 1e3})
	}
	b.SetXAxis(names).AddSeries("p50", p50).AddSeries("p99", p99).AddSeries("p99.9", p999)
	page.AddCharts(b)
}
