package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"time"
	"unsafe"
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
	dep, err := prepareDeploy(ctx, &cfg) // thresholds, agents, live view: before any connection
	if err != nil {
		return nil, err
	}
	defer dep.close()
	rep := newReport(&cfg)
	var co *coordinator
	fail := func(err error) (*Report, error) {
		rep.Error = err.Error()
		if co != nil {
			co.partial()
		}
		dep.finish(rep, co)
		return rep, err
	}
	raiseFileLimit()
	users := cfg.users()
	share := (users + cfg.Procs - 1) / cfg.Procs
	if share+fdSlack > fileLimit() && dep.agents == nil {
		return fail(fileLimitError(share, users))
	}
	for _, s := range cfg.URLs {
		if dep.agents != nil {
			break // each agent plans its own sources
		}
		u, _ := url.Parse(s)
		host, _, _ := net.SplitHostPort(u.Host)
		if _, err := planSources(&cfg, host); err != nil {
			return fail(err)
		}
	}
	if b := cfg.trackBytes(share); b > MaxTrackBytes {
		return fail(fmt.Errorf("bench: tracking every message takes %s per process here (%d users × %d senders × %d bytes, plus a bit per message and loop), over the bound of %s: fewer users or senders, or more --procs",
			size(b), share, cfg.sendersOf(), unsafe.Sizeof(seqWindow{}), size(MaxTrackBytes)))
	}

	steps := newStepWatch()
	seed := rand.Uint64()
	co = &coordinator{cfg: &cfg, rep: rep, msgs: make(chan workerMsg, 16*cfg.Procs), quit: make(chan struct{}),
		latest: make([]*progressMsg, cfg.Procs), results: make([]*workerResult, cfg.Procs), dep: dep, gone: make([]bool, cfg.Procs)}
	defer co.shutdown()
	for i := range cfg.Procs {
		spec := workerSpec{Config: cfg, Index: i, Lo: i * users / cfg.Procs, Hi: (i + 1) * users / cfg.Procs, Seed: seed}
		spec.Config.Progress, spec.Config.Logf = nil, nil
		wc, err := co.startWorker(spec) // here or on its agent
		if err != nil {
			return fail(err)
		}
		co.workers = append(co.workers, wc)
	}
	// The workers are up and have dialed nothing: the servers' memory
	// baseline is taken now, just before the first connection.
	if err := co.waitAll(ctx, opReady, 30*time.Second); err != nil {
		return fail(err)
	}
	before := snapServers(cfg.ServerPIDs)
	t0 := time.Now()
	var peak *peakSampler
	if cfg.Scenario.attack() {
		peak = startPeak(cfg.ServerPIDs, t0)
		defer peak.stop()
	}
	rep.Started = t0
	dial := nowNanos()
	for _, wc := range co.workers {
		wc.send(ctlMsg{Op: opDial, At: dial})
	}

	// Connect phase: every worker opens its users.
	if err := co.waitAll(ctx, opConnected, cfg.connectBudget()+10*time.Second); err != nil {
		return fail(err)
	}
	loadStart := snapServers(cfg.ServerPIDs)
	// Load phase: all workers start at the same instant, a little ahead so
	// that the start line reaches every one of them first.
	at := nowNanos() + int64(dep.lead())
	dep.started(at)
	for _, wc := range co.workers {
		wc.send(ctlMsg{Op: opStart, At: at})
	}
	if err := co.waitAll(ctx, opDone, time.Duration(at-nowNanos())+cfg.Duration+cfg.Drain+30*time.Second); err != nil {
		return fail(err)
	}
	after := snapServers(cfg.ServerPIDs)
	co.endProgress()
	var settled serverSnap
	if cfg.Scenario.attack() {
		// The attack's connections go away (those the server left open
		// are closed now), then the server has Settle to give memory back.
		co.shutdown()
		select {
		case <-time.After(cfg.Settle):
		case <-ctx.Done():
			return fail(ctx.Err())
		}
		settled = snapServers(cfg.ServerPIDs)
	}

	merged, err := mergeResults(co.results)
	if err != nil {
		return fail(err)
	}
	if cfg.Scenario == Connect {
		loadStart = before
	}
	if step := steps.check(); abs64(step) > abs64(merged.ClockStepNs) {
		merged.ClockStepNs = step
	}
	fillReport(rep, &cfg, merged, before, loadStart, after, at, seed)
	if cfg.Scenario.attack() {
		fillAttack(rep, &cfg, merged, after, settled, peak.stop())
	}
	for i, r := range co.results {
		wc := WorkerCounts{Worker: i, Users: (i+1)*users/cfg.Procs - i*users/cfg.Procs}
		if r != nil {
			wc.Connected, wc.Failed, wc.Sent, wc.Received = r.Connected, r.Failed, r.Sent, r.Received
		}
		rep.Workers = append(rep.Workers, wc)
	}
	rep.Sources = merged.Sources
	return dep.finish(rep, co), dep.err(co)
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
	down    bool // shutdown ran

	dep  *deploy // stages, agents, live view (deploy.go)
	gone []bool  // workers lost with their agent: no more lines come
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
				if co.lost(m, op) { // an agent is gone: the others end with what they have (deploy.go)
					if !got[m.Worker] {
						got[m.Worker] = true
						n++
					}
					continue
				}
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
	co.dep.observe(m.Worker, m.Progress)
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
		s.T+1, s.Conns, co.cfg.users(), s.Failed, count(s.Sent), count(s.Received), usec(s.P99Us))
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
	if co.down {
		return
	}
	co.down = true
	co.endProgress()
	for _, wc := range co.workers {
		wc.send(ctlMsg{Op: opClose})
	}
	// Wait for the closed lines (drained so the readers never block), then
	// for the workers to end.
	deadline := time.After(10 * time.Second)
	closed := co.goneCount()
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
