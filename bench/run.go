package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"time"
)

// Run runs one benchmark and returns the merged report. It always stops:
// the connect phase is bounded by the ramp and the timeouts, the load phase
// by Duration and Drain.
//
// On failure Run returns a non-nil error that says what limit was hit (a
// *FailError, matching ErrRefused, ErrFileLimit, ErrPortLimit, ErrTimeout or
// ErrHandshake with errors.Is) and, once the config is valid, a report of
// what was measured so far, with Report.Error set.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	rep := newReport(&cfg)
	var co *coordinator
	fail := func(err error) (*Report, error) {
		rep.Error = err.Error()
		if co != nil {
			co.partial()
		}
		return rep, err
	}
	raiseFileLimit()
	share := (cfg.Conns + cfg.Procs - 1) / cfg.Procs
	if share+fdSlack > fileLimit() {
		return fail(fileLimitError(share, cfg.Conns))
	}
	u, _ := url.Parse(cfg.URL)
	host, _, _ := net.SplitHostPort(u.Host)
	if _, err := planSources(&cfg, host); err != nil {
		return fail(err)
	}

	before := snapServers(cfg.ServerPIDs)
	t0 := time.Now()
	rep.Started = t0
	co = &coordinator{cfg: &cfg, rep: rep, msgs: make(chan workerMsg, 16*cfg.Procs), quit: make(chan struct{}),
		latest: make([]*progressMsg, cfg.Procs), results: make([]*workerResult, cfg.Procs)}
	defer co.shutdown()
	for i := range cfg.Procs {
		spec := workerSpec{Config: cfg, Index: i, Lo: i * cfg.Conns / cfg.Procs, Hi: (i + 1) * cfg.Conns / cfg.Procs, T0: t0.UnixNano()}
		spec.Config.Progress, spec.Config.Logf = nil, nil
		wc, err := startWorker(spec, &cfg, co.msgs, co.quit)
		if err != nil {
			return fail(err)
		}
		co.workers = append(co.workers, wc)
	}

	// Connect phase: every worker opens its users.
	if err := co.waitAll(ctx, opConnected, cfg.connectBudget()+10*time.Second); err != nil {
		return fail(err)
	}
	loadStart := snapServers(cfg.ServerPIDs)
	// Load phase: all workers start at the same instant, a little ahead so
	// that the start line reaches every one of them first.
	at := time.Now().Add(100 * time.Millisecond)
	for _, wc := range co.workers {
		wc.send(ctlMsg{Op: opStart, At: at.UnixNano()})
	}
	if err := co.waitAll(ctx, opDone, time.Until(at)+cfg.Duration+cfg.Drain+30*time.Second); err != nil {
		return fail(err)
	}
	after := snapServers(cfg.ServerPIDs)
	co.endProgress()

	merged, err := mergeResults(co.results)
	if err != nil {
		return fail(err)
	}
	if cfg.Scenario == Connect {
		loadStart = before
	}
	fillReport(rep, &cfg, merged, before, loadStart, after, at.UnixNano())
	for i, r := range co.results {
		wc := WorkerCounts{Worker: i, Users: (i+1)*cfg.Conns/cfg.Procs - i*cfg.Conns/cfg.Procs}
		if r != nil {
			wc.Connected, wc.Failed, wc.Sent, wc.Received = r.Connected, r.Failed, r.Sent, r.Received
		}
		rep.Workers = append(rep.Workers, wc)
	}
	return rep, nil
}

// partial fills the connection counts of a run that stopped early, from
// the results that workers sent with their errors or else their last
// progress lines.
func (co *coordinator) partial() {
	c := &co.rep.Conns
	c.Connected, c.Failed = 0, 0
	for i, p := range co.latest {
		if r := co.results[i]; r != nil {
			c.Connected += r.Connected
			c.Failed += r.Failed
			for k, v := range r.Failures {
				if c.Failures == nil {
					c.Failures = map[string]int{}
					c.FailureExamples = map[string]string{}
				}
				c.Failures[k] += v
				if e := r.FailureExamples[k]; e != nil {
					c.FailureExamples[k] = e.Msg
				}
			}
		} else if p != nil {
			c.Connected += p.Connected
			c.Failed += p.Failed
		}
	}
}

// coordinator follows the workers through the protocol.
type coordinator struct {
	cfg     *Config
	rep     *Report
	workers []*workerConn
	msgs    chan workerMsg
	quit    chan struct{}
	latest  []*progressMsg
	results []*workerResult
	printed time.Time
	shown   bool
}

// waitAll waits until every worker has sent op, handling progress lines on
// the way. A worker's error, a worker's death, ctx or the timeout end it.
func (co *coordinator) waitAll(ctx context.Context, op string, timeout time.Duration) error {
	got := make([]bool, len(co.workers))
	n := 0
	t := time.NewTimer(timeout)
	defer t.Stop()
	for n < len(co.workers) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return &FailError{Reason: ReasonOther, Msg: fmt.Sprintf("bench: workers did not report %q within %v", op, timeout)}
		case m := <-co.msgs:
			switch m.Op {
			case opProgress:
				co.progress(m)
			case opError:
				if m.Result != nil {
					co.results[m.Worker] = m.Result
				}
				if m.Err == nil {
					m.Err = &FailError{Reason: ReasonOther, Msg: "bench: worker failed"}
				}
				return m.Err
			case opClosed:
				if m.Err != nil {
					return fmt.Errorf("%w: %v", ErrWorker, m.Err)
				}
				return fmt.Errorf("%w: worker %d exited before %q", ErrWorker, m.Worker, op)
			case op:
				if !got[m.Worker] {
					got[m.Worker] = true
					n++
				}
				if op == opDone {
					co.results[m.Worker] = m.Result
				}
			}
		}
	}
	return nil
}

// progress records a worker's second and shows the live line, at most once
// a second.
func (co *coordinator) progress(m workerMsg) {
	if m.Progress == nil || m.Worker < 0 || m.Worker >= len(co.latest) {
		return
	}
	co.latest[m.Worker] = m.Progress
	if co.cfg.Progress == nil || time.Since(co.printed) < 900*time.Millisecond {
		return
	}
	co.printed = time.Now()
	var s progressMsg
	for _, p := range co.latest {
		if p == nil {
			continue
		}
		s.T = max(s.T, p.T)
		s.Conns += p.Conns
		s.Failed += p.Failed
		s.Sent += p.Sent
		s.Received += p.Received
		s.P99Us = max(s.P99Us, p.P99Us)
	}
	co.shown = true
	fmt.Fprintf(co.cfg.Progress, "\r%4ds  conns %d/%d  failed %d  sent %s/s  recv %s/s  p99 %s   ",
		s.T+1, s.Conns, co.cfg.Conns, s.Failed, count(s.Sent), count(s.Received), usec(s.P99Us))
}

// endProgress ends the live line.
func (co *coordinator) endProgress() {
	if co.shown {
		fmt.Fprintln(co.cfg.Progress)
		co.shown = false
	}
}

// shutdown tells every worker to close its connections and waits for them.
func (co *coordinator) shutdown() {
	co.endProgress()
	for _, wc := range co.workers {
		wc.send(ctlMsg{Op: opClose})
	}
	// Wait for the closed lines (drained so the readers never block), then
	// for the workers to end.
	deadline := time.After(10 * time.Second)
	closed := 0
	for closed < len(co.workers) {
		select {
		case m := <-co.msgs:
			if m.Op == opClosed {
				closed++
			}
		case <-deadline:
			closed = len(co.workers)
		}
	}
	close(co.quit)
	for _, wc := range co.workers {
		wc.stop(5 * time.Second)
	}
}

func newReport(cfg *Config) *Report {
	r := &Report{Schema: SchemaVersion, Scenario: cfg.Scenario, URL: cfg.URL, Procs: cfg.Procs, Loops: cfg.Loops,
		Params: Params{Conns: cfg.Conns, RampRate: cfg.RampRate, DurationSec: cfg.Duration.Seconds()},
		Conns:  ConnReport{Target: cfg.Conns}, Series: []Second{}}
	switch cfg.Scenario {
	case Echo:
		r.Params.Payload, r.Params.InFlight, r.Params.DrainSec = cfg.Payload, cfg.InFlight, cfg.Drain.Seconds()
	case Broadcast:
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
	if cfg.Scenario != Connect {
		lh, _ := decodeHist(m.LatencyHDR)
		rep.Latency = latencyOf(lh)
		mr := &MessageReport{Sent: m.Sent, Received: m.Received, Other: m.Other, DurationSec: dur,
			SentPerSec: float64(m.Sent) / dur, PerSec: float64(m.Received) / dur,
			MBPerSec: float64(m.Bytes) / dur / 1e6, LateSends: m.LateSends, WindowSec: dur}
		if cfg.Scenario == Echo {
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
			expB := sumTo(m.SentB, cut) * int64(m.OpenAtStart)
			gotB := sumTo(m.RecvB, cut)
			expW, gotW := sumTo(m.SentW, cut), sumTo(m.RecvW, cut)
			mr.Expected = expB + expW
			mr.Lost = max(0, expB-gotB) + max(0, expW-gotW)
			mr.Extra = max(0, gotB-expB) + max(0, gotW-expW)
			if cfg.Scenario == Chat && cfg.WhisperFrac > 0 {
				mr.Whispers = &WhisperReport{Sent: sumTo(m.SentW, len(m.SentW)), Expected: expW, Received: gotW, Echoes: m.WhisperEchoes}
			}
		}
		if mr.Expected > 0 {
			mr.LossPct = 100 * float64(mr.Lost) / float64(mr.Expected)
		}
		rep.Messages = mr
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
