package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// deploy is what a run adds to the coordinator for deployments: its
// thresholds, its agents, a staged run's aggregation, the live view. Run
// calls it at a few points (prepareDeploy before anything, observe on
// every progress line, finish on the report).
type deploy struct {
	cfg    *Config
	ths    []threshold
	agents *agentSet
	mix    *mixAgg
	live   *liveView
	done   bool

	// A staged run's server samples at each stage's end (--server-pid).
	snapMu sync.Mutex
	snaps  []*serverSnap
	stop   chan struct{}
	snapWG sync.WaitGroup
}

// prepareDeploy checks the thresholds, connects to the agents (which sets
// cfg.Procs) and opens the live view: all before any connection to the
// server, so that each mistake is an error at the start.
func prepareDeploy(ctx context.Context, cfg *Config) (*deploy, error) {
	d := &deploy{cfg: cfg}
	var err error
	if d.ths, err = parseThresholds(cfg); err != nil {
		return nil, err
	}
	if cfg.SourceAddrs, err = ParseSourceAddrs(cfg.SourceAddrs); err != nil {
		return nil, err
	}
	if len(cfg.SourceAddrs) > 0 && len(cfg.Agents) == 0 {
		if err := checkLocal(cfg.SourceAddrs); err != nil {
			return nil, err
		}
	}
	if len(cfg.Agents) > 0 {
		if d.agents, err = dialAgents(ctx, cfg); err != nil {
			return nil, err
		}
		cfg.Procs = min(cfg.Procs, cfg.users())
	}
	if cfg.Scenario == Mixed {
		d.mix = newMixAgg(cfg)
	}
	if cfg.MetricsAddr != "" || cfg.Out != "" {
		if d.live, err = startLive(cfg, d.mix, time.Now()); err != nil {
			d.agents.close()
			return nil, err
		}
	}
	return d, nil
}

// close ends the live view and says goodbye to the agents.
func (d *deploy) close() {
	d.stopSnaps()
	d.live.close()
	d.agents.close()
}

// stopSnaps ends the stage-end sampling.
func (d *deploy) stopSnaps() {
	if d.stop != nil {
		select {
		case <-d.stop:
		default:
			close(d.stop)
		}
		d.snapWG.Wait()
	}
}

// lead is how far ahead the load phase's start is set: enough for the
// start line to reach every worker, over the network for agents.
func (d *deploy) lead() time.Duration {
	if d.agents != nil {
		return time.Second
	}
	return 100 * time.Millisecond
}

// started is told the load phase's start (clock.go ns).
func (d *deploy) started(at int64) {
	if d.mix == nil {
		return
	}
	sched := newSchedule(at, d.cfg.Stages)
	d.live.setSchedule(sched)
	if len(d.cfg.ServerPIDs) == 0 {
		return
	}
	// The servers' memory at each stage's end: the peak's is what a
	// connection costs.
	d.snaps, d.stop = make([]*serverSnap, len(sched.ends)), make(chan struct{})
	d.snapWG.Go(func() {
		for i, end := range sched.ends {
			if !sleepUntil(context.Background(), d.stop, end) {
				return
			}
			s := snapServers(d.cfg.ServerPIDs)
			d.snapMu.Lock()
			d.snaps[i] = &s
			d.snapMu.Unlock()
		}
	})
}

// observe takes a worker's progress line.
func (d *deploy) observe(w int, p *progressMsg) {
	if d.mix != nil {
		d.mix.ingest(w, p.Mix)
	}
	d.live.add(w, p)
}

// startWorker starts worker spec.Index: on its agent, or here.
func (co *coordinator) startWorker(spec workerSpec) (*workerConn, error) {
	spec.Live = co.dep.live != nil
	if a := co.dep.agents; a != nil {
		if spec.Index == 0 {
			a.attach(co.msgs, co.quit)
		}
		spec.Config.LocalUsers = a.usersOf(spec.Index)
		return a.start(spec)
	}
	return startWorker(spec, co.cfg, co.msgs, co.quit)
}

// usersOf is how many users the agent of worker k holds in all.
func (s *agentSet) usersOf(k int) int {
	l := s.owner[k]
	n := 0
	for i := l.first; i < l.first+l.procs; i++ {
		n += s.cfg.shareOf(i)
	}
	return max(n, 1)
}

// shareOf is how many users worker k holds.
func (c *Config) shareOf(k int) int {
	if c.Scenario == Mixed {
		return mixShare(c.Conns, c.Procs, k)
	}
	u := c.users()
	return (k+1)*u/c.Procs - k*u/c.Procs
}

// lost handles a worker's end before op: a worker of a lost agent in the
// load phase counts as done, and the first one lost ends every other
// worker's load phase (they report what they have). It reports whether
// waitAll goes on; anything else (a worker of this machine, or the
// connect phase) stays an error that ends the run.
func (co *coordinator) lost(m workerMsg, op string) bool {
	if co.dep.agents == nil || m.Err == nil || m.Worker < 0 || m.Worker >= len(co.gone) {
		return false
	}
	first := co.goneCount() == 0
	co.gone[m.Worker] = true
	if co.dep.mix != nil {
		co.dep.mix.lose(m.Worker, m.Err.Msg)
	}
	co.cfg.logf("%s", m.Err.Msg)
	if op != opDone {
		return false
	}
	if first {
		for i, wc := range co.workers {
			if !co.gone[i] {
				wc.send(ctlMsg{Op: opClose})
			}
		}
	}
	return true
}

// goneCount is how many workers were lost with their agents.
func (co *coordinator) goneCount() int {
	n := 0
	for _, g := range co.gone {
		if g {
			n++
		}
	}
	return n
}

// finish completes the report: a staged run's stages and messages, the
// agents' counts, the thresholds judged.
func (d *deploy) finish(rep *Report, co *coordinator) *Report {
	if d.done {
		return rep
	}
	d.done = true
	if co != nil {
		for i := range rep.Workers {
			rep.Workers[i].Users = d.cfg.shareOf(i) // a staged run deals its slots interleaved
		}
		if d.mix != nil {
			for i, r := range co.results {
				if r != nil {
					d.mix.ingest(i, r.Mix)
				}
			}
			d.mix.fill(rep)
			d.stopSnaps()
			d.snapMu.Lock()
			stageMemory(rep, d.snaps, d.cfg.ServerPIDs)
			d.snapMu.Unlock()
		}
		if d.agents != nil {
			rep.Agents = d.agents.counts(co)
			if lost := d.agents.lost(); len(lost) > 0 && rep.Error == "" {
				rep.Error = strings.Join(lost, "; ") + "; the report has what every worker reported"
			}
		}
	}
	rep.Thresholds = judge(d.ths, rep)
	return rep
}

// err is the run's error once the report is complete: an agent lost.
func (d *deploy) err(co *coordinator) error {
	if lost := d.agents.lost(); len(lost) > 0 {
		return fmt.Errorf("%w: %s", ErrAgentLost, strings.Join(lost, "; "))
	}
	return nil
}
