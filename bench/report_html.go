package bench

import (
	"bytes"
	_ "embed"
	"fmt"
	"html"
	"io"
	"strconv"
	"strings"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/components"
	"github.com/go-echarts/go-echarts/v2/opts"
)

// echartsJS is Apache ECharts, inlined into every HTML report so that it
// opens offline (go-echarts references a CDN copy by default). See
// assets/README.md.
//
//go:embed assets/echarts.min.js
var echartsJS string

// inlineHost is the asset host the charts are rendered with; the script tag
// it produces is then replaced by the inlined library.
const inlineHost = "wsbench-inline/"

// WriteHTML writes a self-contained HTML report: the text report, the
// latency percentile plot, throughput and connections per second.
func (r *Report) WriteHTML(w io.Writer) error {
	page := components.NewPage()
	page.SetPageTitle("wsbench " + string(r.Scenario) + " " + r.URL)
	page.SetAssetsHost(inlineHost)
	page.SetLayout(components.PageFlexLayout)
	if r.Latency != nil {
		name := "Delivery latency (from the scheduled send)"
		if r.Scenario == Echo {
			name = "Round-trip latency (open loop, from the scheduled send)"
			if r.LatencyFrom == "sent" {
				name = "Round-trip latency (closed loop, raw)"
			}
		}
		page.AddCharts(percentileChart(name, r.Latency))
	}
	if r.LatencyCorrected != nil {
		page.AddCharts(percentileChart("Round-trip latency corrected for coordinated omission", r.LatencyCorrected))
	}
	if r.Conns.ConnectTime != nil {
		page.AddCharts(percentileChart("Connect time (dial + upgrade; /chat: to the greeting)", r.Conns.ConnectTime))
	}
	if r.Conns.TLSHandshakeTime != nil {
		page.AddCharts(percentileChart("TLS handshake (from the TCP connect)", r.Conns.TLSHandshakeTime))
	}
	if r.Scenario != Connect {
		page.AddCharts(throughputChart(r))
	}
	page.AddCharts(connsChart(r))
	r.addStageCharts(page)

	var buf bytes.Buffer
	if err := page.Render(&buf); err != nil {
		return fmt.Errorf("bench: render HTML: %w", err)
	}
	out := buf.String()
	tag := `<script src="` + inlineHost + `echarts.min.js"></script>`
	if !strings.Contains(out, tag) {
		return fmt.Errorf("bench: render HTML: echarts script tag not found")
	}
	out = strings.Replace(out, tag, "<script>"+echartsJS+"</script>", 1)
	var text bytes.Buffer
	_ = r.WriteText(&text)
	summary := `<pre style="font: 13px monospace; margin: 16px">` + html.EscapeString(text.String()) + "</pre>"
	out = strings.Replace(out, "<body>", "<body>\n"+summary, 1)
	_, err := io.WriteString(w, out)
	return err
}

// perSecondOpts are the options of a chart over the run's seconds, with a
// legend and a tooltip per second.
func perSecondOpts(id, title, y string) []charts.GlobalOpts {
	return []charts.GlobalOpts{
		chartInit(id),
		charts.WithTitleOpts(opts.Title{Title: title}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Right: "10%"}),
		charts.WithXAxisOpts(opts.XAxis{Name: "s"}),
		charts.WithYAxisOpts(opts.YAxis{Name: y}),
	}
}

func chartInit(id string) charts.GlobalOpts {
	return charts.WithInitializationOpts(opts.Initialization{Width: "900px", Height: "420px", ChartID: id, AssetsHost: inlineHost})
}

// percentileChart plots latency against percentile, log scale, the usual
// HdrHistogram view: the tail is where servers differ.
func percentileChart(title string, l *Latency) *charts.Line {
	c := charts.NewLine()
	id := "c" + strconv.Itoa(len(title)) + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return -1
	}, title)
	c.SetGlobalOptions(
		chartInit(id),
		charts.WithTitleOpts(opts.Title{Title: title, Subtitle: "n = " + count(l.Count)}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}),
		charts.WithXAxisOpts(opts.XAxis{Name: "percentile"}),
		charts.WithYAxisOpts(opts.YAxis{Name: "ms", Type: "log"}),
	)
	var x []string
	var y []opts.LineData
	for _, p := range l.Percentiles {
		x = append(x, trimFloat(p.P)+"%")
		y = append(y, opts.LineData{Value: max(p.Us, 1) / 1e3})
	}
	c.SetXAxis(x).AddSeries("latency (ms)", y)
	return c
}

// throughputChart plots messages per second, sent and received.
func throughputChart(r *Report) *charts.Line {
	c := charts.NewLine()
	noun := "deliveries/s"
	if r.Scenario == Echo {
		noun = "replies/s"
	}
	c.SetGlobalOptions(perSecondOpts("throughput", "Throughput per second", "msg/s")...)
	var x []string
	var sent, recv []opts.LineData
	for _, s := range r.Series {
		x = append(x, strconv.Itoa(s.T))
		sent = append(sent, opts.LineData{Value: s.Sent})
		recv = append(recv, opts.LineData{Value: s.Received})
	}
	c.SetXAxis(x).AddSeries(noun, recv)
	if r.Scenario == Echo {
		c.AddSeries("sent/s", sent)
	} else {
		// One message makes a delivery per user: sends get their own scale.
		c.ExtendYAxis(opts.YAxis{Name: "sent/s"})
		for i := range sent {
			sent[i].YAxisIndex = 1
		}
		c.AddSeries("sent/s", sent, charts.WithLineChartOpts(opts.LineChart{YAxisIndex: 1}))
	}
	return c
}

// connsChart plots open connections and the per-second p99.
func connsChart(r *Report) *charts.Line {
	c := charts.NewLine()
	c.SetGlobalOptions(perSecondOpts("conns", "Open connections and p99 per second", "conns")...)
	c.ExtendYAxis(opts.YAxis{Name: "p99 ms"})
	var x []string
	var conns, p99 []opts.LineData
	for _, s := range r.Series {
		x = append(x, strconv.Itoa(s.T))
		conns = append(conns, opts.LineData{Value: s.Conns})
		p99 = append(p99, opts.LineData{Value: s.P99Us / 1e3, YAxisIndex: 1})
	}
	c.SetXAxis(x).AddSeries("open connections", conns)
	if r.Scenario != Connect {
		c.AddSeries("p99 ms", p99, charts.WithLineChartOpts(opts.LineChart{YAxisIndex: 1}))
	}
	return c
}
