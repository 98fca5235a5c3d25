package bench

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Thresholds are a run's pass/fail conditions, k6's way: each names a
// metric of the report, an operator and a limit,
//
//	p99<50ms                    the run's latency p99 under 50 ms
//	loss==0                     no message lost
//	connect_failed<0.1%         under 0.1% of connection attempts failed
//	stage 2: connected>=9900    at the end of stage 2 (or its name: "hold: ...")
//
// and is judged PASS or FAIL on the final report, with the value it saw.
// A metric this run cannot measure (an unknown name, latency in a connect
// run, a stage that does not exist) is an error before the first
// connection, not a silent pass; a metric without a sample when judged
// (no message received) fails.

// ThresholdResult is one threshold, judged.
type ThresholdResult struct {
	Threshold string `json:"threshold"`       // as written
	Stage     int    `json:"stage,omitempty"` // from 1; 0: the whole run
	Metric    string `json:"metric"`
	// Value is what the metric was: µs for times, a percentage when the
	// limit is one, else the count or rate; Shown is it as printed.
	Value float64 `json:"value"`
	Shown string  `json:"shown"`
	Pass  bool    `json:"pass"`
	Why   string  `json:"why,omitempty"` // why there is no value
}

// ThresholdsFailed reports whether any threshold failed.
func (r *Report) ThresholdsFailed() bool {
	for _, t := range r.Thresholds {
		if !t.Pass {
			return true
		}
	}
	return false
}

// threshold is one parsed threshold.
type threshold struct {
	text   string
	stage  int // from 1; 0: the run
	metric *metricDef
	op     string
	limit  float64 // µs for times; a percentage if pct
	pct    bool
}

// metricKind says what a metric's values are.
type metricKind uint8

const (
	mTime  metricKind = iota // µs; limits need a unit
	mCount                   // a count; a limit in % is of base
	mRate                    // per second
)

// metricDef is a metric thresholds may name.
type metricDef struct {
	name  string
	kind  metricKind
	needs string // what the run must measure: "messages", "echo", "chat", or "" (always)
	doc   string
	// get reads the metric off a view; ok is false without samples.
	get func(v *metricView) (value, base float64, ok bool)
}

// metricView is what thresholds read: the whole run or one stage.
type metricView struct {
	lat, echo, chat, conn, corrected, lag       *Latency
	connected, opened, failed, disconnects      int
	sent, received, expected, lost, extra, late int64
	refused, dup                                int64
	sentPerSec, perSec                          float64
	hasMessages                                 bool
}

// percentilesOf are the latency statistics each latency metric has.
var percentilesOf = []struct {
	suffix string
	get    func(l *Latency) float64
}{
	{"p50", func(l *Latency) float64 { return l.P50Us }},
	{"p90", func(l *Latency) float64 { return l.P90Us }},
	{"p99", func(l *Latency) float64 { return l.P99Us }},
	{"p99.9", func(l *Latency) float64 { return l.P999Us }},
	{"p999", func(l *Latency) float64 { return l.P999Us }},
	{"max", func(l *Latency) float64 { return l.MaxUs }},
	{"mean", func(l *Latency) float64 { return l.MeanUs }},
	{"min", func(l *Latency) float64 { return l.MinUs }},
}

// metrics is every metric thresholds may name, by name.
var metrics = func() map[string]*metricDef {
	m := map[string]*metricDef{}
	add := func(d *metricDef) { m[d.name] = d }
	lat := func(prefix, needs, doc string, pick func(v *metricView) *Latency) {
		for _, p := range percentilesOf {
			get := p.get
			add(&metricDef{name: prefix + p.suffix, kind: mTime, needs: needs, doc: doc,
				get: func(v *metricView) (float64, float64, bool) {
					l := pick(v)
					if l == nil || l.Count == 0 {
						return 0, 0, false
					}
					return get(l), 0, true
				}})
		}
	}
	lat("", "messages", "latency (echo round trips and chat deliveries)", func(v *metricView) *Latency { return v.lat })
	lat("echo_", "echo", "echo round trip", func(v *metricView) *Latency { return v.echo })
	lat("chat_", "chat", "chat delivery latency", func(v *metricView) *Latency { return v.chat })
	lat("connect_", "", "connect time", func(v *metricView) *Latency { return v.conn })
	lat("corrected_", "corrected", "closed-loop echo's round trip corrected for coordinated omission", func(v *metricView) *Latency { return v.corrected })
	lat("lag_", "scheduled", "how late scheduled messages left (the client's own delay)", func(v *metricView) *Latency { return v.lag })
	count := func(name, needs, doc string, get func(v *metricView) (float64, float64)) {
		add(&metricDef{name: name, kind: mCount, needs: needs, doc: doc,
			get: func(v *metricView) (float64, float64, bool) { x, b := get(v); return x, b, true }})
	}
	count("loss", "messages", "messages lost (% of expected)", func(v *metricView) (float64, float64) { return float64(v.lost), float64(v.expected) })
	count("extra", "messages", "deliveries beyond the expected (% of expected)", func(v *metricView) (float64, float64) { return float64(v.extra), float64(v.expected) })
	count("refused", "messages", "chat lines the server did not relay (% of sent)", func(v *metricView) (float64, float64) { return float64(v.refused), float64(v.sent) })
	count("skipped", "messages", "messages not sent, over 100 ms behind their schedule (% of sent)", func(v *metricView) (float64, float64) { return float64(v.late), float64(v.sent) })
	count("duplicated", "messages", "copies a receiver already had (% of expected)", func(v *metricView) (float64, float64) { return float64(v.dup), float64(v.expected) })
	count("sent", "messages", "messages sent", func(v *metricView) (float64, float64) { return float64(v.sent), 0 })
	count("received", "messages", "messages received", func(v *metricView) (float64, float64) { return float64(v.received), 0 })
	count("connected", "", "connections open at a stage's end; over the run, opened (% of target)", func(v *metricView) (float64, float64) { return float64(v.connected), 0 })
	count("connect_failed", "", "connections that failed to open (% of attempts)", func(v *metricView) (float64, float64) {
		return float64(v.failed), float64(v.failed + v.opened)
	})
	count("disconnects", "", "open connections the server closed (% of opened)", func(v *metricView) (float64, float64) {
		return float64(v.disconnects), float64(v.opened)
	})
	rate := func(name, doc string, get func(v *metricView) float64) {
		add(&metricDef{name: name, kind: mRate, needs: "messages", doc: doc,
			get: func(v *metricView) (float64, float64, bool) { return get(v), 0, v.hasMessages }})
	}
	rate("sent_per_sec", "messages sent per second", func(v *metricView) float64 { return v.sentPerSec })
	rate("received_per_sec", "messages received per second", func(v *metricView) float64 { return v.perSec })
	m["lost"] = m["loss"]
	return m
}()

// MetricNames lists the metrics thresholds may name, sorted.
func MetricNames() []string {
	out := make([]string, 0, len(metrics))
	for k := range metrics {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// thresholdOps are the operators, longest first (so "<=" is not "<").
var thresholdOps = []string{"<=", ">=", "==", "!=", "<", ">"}

// parseThresholds parses the run's thresholds (Config.Thresholds, and
// each stage's) and checks that this run measures what they name.
func parseThresholds(cfg *Config) ([]threshold, error) {
	var out []threshold
	for _, s := range cfg.Thresholds {
		t, err := parseThreshold(s, cfg)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	for i, st := range cfg.Stages {
		for _, s := range st.Thresholds {
			t, err := parseThreshold(s, cfg)
			if err != nil {
				return nil, err
			}
			if t.stage != 0 && t.stage != i+1 {
				return nil, fmt.Errorf("bench: threshold %q is in stage %d's list but names stage %d", s, i+1, t.stage)
			}
			t.stage = i + 1
			out = append(out, t)
		}
	}
	return out, nil
}

// parseThreshold parses "[stage:] METRIC OP LIMIT".
func parseThreshold(s string, cfg *Config) (threshold, error) {
	t := threshold{text: strings.TrimSpace(s)}
	bad := func(format string, a ...any) (threshold, error) {
		return t, fmt.Errorf("bench: threshold %q: %s", s, fmt.Sprintf(format, a...))
	}
	expr := t.text
	if scope, rest, ok := strings.Cut(expr, ":"); ok {
		n, err := stageOf(strings.TrimSpace(scope), cfg.Stages)
		if err != nil {
			return bad("%v", err)
		}
		t.stage, expr = n, rest
	}
	var name, limit string
	for _, op := range thresholdOps {
		if i := strings.Index(expr, op); i > 0 {
			name, t.op, limit = strings.TrimSpace(expr[:i]), op, strings.TrimSpace(expr[i+len(op):])
			break
		}
	}
	if t.op == "" {
		return bad("want METRIC OP LIMIT, with OP one of < <= > >= == !=")
	}
	t.metric = metrics[name]
	if t.metric == nil {
		return bad("unknown metric %q; known: %s", name, strings.Join(MetricNames(), " "))
	}
	if why := cannotMeasure(t.metric, cfg); why != "" {
		return bad("this run cannot measure %s: %s", name, why)
	}
	v, pct, err := parseLimit(limit, t.metric.kind)
	if err != nil {
		return bad("%v", err)
	}
	t.limit, t.pct = v, pct
	return t, nil
}

// stageOf is the stage a scope names: "stage 2", "2" or a stage's name.
func stageOf(scope string, stages []Stage) (int, error) {
	if len(stages) == 0 {
		return 0, fmt.Errorf("%q names a stage, and this run has no stages", scope)
	}
	num := strings.TrimSpace(strings.TrimPrefix(scope, "stage"))
	if n, err := strconv.Atoi(num); err == nil {
		if n < 1 || n > len(stages) {
			return 0, fmt.Errorf("no stage %d (the stages are 1 to %d)", n, len(stages))
		}
		return n, nil
	}
	for i, st := range stages {
		if st.Name != "" && st.Name == scope {
			return i + 1, nil
		}
	}
	return 0, fmt.Errorf("no stage named %q", scope)
}

// cannotMeasure says why cfg's run never has a value of m ("" if it can).
func cannotMeasure(m *metricDef, cfg *Config) string {
	switch m.needs {
	case "messages":
		if cfg.Scenario == Connect {
			return "a connect run sends no messages"
		}
		if cfg.Scenario == Mixed && cfg.Mix != nil && cfg.Mix.Echo+cfg.Mix.Chat == 0 {
			return "the mix has only idle users"
		}
	case "echo":
		if cfg.Scenario == Mixed && (cfg.Mix == nil || cfg.Mix.Echo == 0) || cfg.Scenario != Mixed && cfg.Scenario != Echo && cfg.Scenario != AttackInbound {
			return "it has no echo users"
		}
	case "chat":
		if cfg.Scenario == Mixed && (cfg.Mix == nil || cfg.Mix.Chat == 0) || cfg.Scenario != Mixed && cfg.Scenario != Broadcast && cfg.Scenario != Chat && cfg.Scenario != AttackOutbound {
			return "it has no chat users"
		}
	case "corrected":
		if cfg.Scenario != Echo || cfg.openLoop() {
			return "only closed-loop echo has a corrected round trip"
		}
	case "scheduled":
		if !cfg.scheduled() {
			return "it sends nothing on a schedule"
		}
	}
	return ""
}

// parseLimit reads a limit: a time with its unit for time metrics (to
// µs), a number or a percentage otherwise.
func parseLimit(s string, kind metricKind) (v float64, pct bool, err error) {
	if kind == mTime {
		num := strings.TrimRightFunc(s, func(r rune) bool { return r < '0' || r > '9' })
		unit := s[len(num):]
		x, err := strconv.ParseFloat(num, 64)
		scale, ok := map[string]float64{"ns": 1e-3, "us": 1, "µs": 1, "ms": 1e3, "s": 1e6, "m": 60e6}[unit]
		if err != nil || !ok {
			return 0, false, fmt.Errorf("limit %q: want a time with its unit (ns, us, ms, s, m)", s)
		}
		return x * scale, false, nil
	}
	num, pct := strings.CutSuffix(s, "%")
	if pct && kind == mRate {
		return 0, false, fmt.Errorf("limit %q: a rate has no percentage", s)
	}
	x, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(x) {
		return 0, false, fmt.Errorf("limit %q: want a number (or a percentage)", s)
	}
	return x, pct, nil
}

// judge judges the thresholds on the final report.
func judge(ths []threshold, rep *Report) []ThresholdResult {
	out := make([]ThresholdResult, 0, len(ths))
	for _, t := range ths {
		r := ThresholdResult{Threshold: t.text, Stage: t.stage, Metric: t.metric.name}
		var v metricView
		switch {
		case t.stage == 0:
			v = runView(rep)
		case t.stage <= len(rep.Stages):
			v = stageView(&rep.Stages[t.stage-1])
		default:
			r.Why = "the run ended before this stage"
			r.Shown = "n/a"
			out = append(out, r)
			continue
		}
		x, base, ok := t.metric.get(&v)
		if !ok {
			r.Why, r.Shown = "no samples", "n/a"
			out = append(out, r)
			continue
		}
		if t.pct {
			x = percentOf(x, base)
		}
		r.Value, r.Shown, r.Pass = x, t.show(x), compare(x, t.op, t.limit)
		out = append(out, r)
	}
	return out
}

// show prints a metric's value as its limit is written.
func (t *threshold) show(x float64) string {
	switch {
	case t.metric.kind == mTime:
		return usec(x)
	case t.pct:
		return strconv.FormatFloat(x, 'f', 3, 64) + "%"
	case t.metric.kind == mRate:
		return strconv.FormatFloat(x, 'f', 1, 64) + "/s"
	}
	return count(int64(x))
}

// percentOf is x as a percentage of base (0 of nothing).
func percentOf(x, base float64) float64 {
	if base <= 0 {
		return 0
	}
	return 100 * x / base
}

func compare(x float64, op string, limit float64) bool {
	switch op {
	case "<":
		return x < limit
	case "<=":
		return x <= limit
	case ">":
		return x > limit
	case ">=":
		return x >= limit
	case "==":
		return x == limit
	}
	return x != limit
}

// runView is the whole run's metrics.
func runView(r *Report) metricView {
	v := metricView{lat: r.Latency, conn: r.Conns.ConnectTime, corrected: r.LatencyCorrected, lag: r.SendLag, connected: r.Conns.Connected, opened: r.Conns.Connected, failed: r.Conns.Failed,
		disconnects: r.Conns.Disconnects}
	switch {
	case r.Mix != nil:
		v.echo, v.chat = r.Mix.EchoRTT, r.Mix.Delivery
	case r.Scenario == Echo || r.Scenario == AttackInbound:
		v.echo = r.Latency
	default:
		v.chat = r.Latency
	}
	if m := r.Messages; m != nil {
		v.hasMessages = true
		v.sent, v.received, v.expected, v.lost, v.extra, v.late, v.refused = m.Sent, m.Received, m.Expected, m.Lost, m.Extra, m.Skipped, m.Refused
		v.dup = m.Duplicated
		v.sentPerSec, v.perSec = m.SentPerSec, m.PerSec
	}
	return v
}

// stageView is one stage's metrics.
func stageView(s *StageReport) metricView {
	return metricView{lat: s.Latency, echo: s.EchoRTT, chat: s.Delivery, conn: s.ConnectTime, connected: s.Connected, opened: s.Opened,
		failed: s.Failed, disconnects: s.Disconnects, sent: s.Sent, received: s.Received, expected: s.Expected,
		lost: s.Lost, extra: s.Extra, late: s.Skipped, dup: s.Duplicated, refused: s.Refused, sentPerSec: s.SentPerSec, perSec: s.PerSec,
		hasMessages: true}
}
