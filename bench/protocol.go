package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// The worker protocol: JSON lines on the worker's stdin (from the
// coordinator) and stdout (to it). In-process workers (Procs == 1) speak it
// over pipes too, so one code path serves both.
//
//	coordinator                                  worker
//	  | -- {"op":"spec","spec":{...}}         --> |  start the gnet client
//	  | <-- {"op":"ready"}                    --- |
//	  |    (server memory baseline)               |
//	  | -- {"op":"dial","at":T0}              --> |  dial users lo..hi-1
//	  | <-- {"op":"progress","progress":{...}} -- |  once a second from T0, all along
//	  | <-- {"op":"connected",...}            --- |  every user opened or failed
//	  | -- {"op":"start","at":T}              --> |  load phase from T to T+Duration
//	  | <-- {"op":"done","result":{...}}      --- |  after the drain; users still open
//	  | -- {"op":"close"}                     --> |  close frames, disconnect
//	  | <-- {"op":"closed"}                   --- |  then exit
//
// Any time: the worker sends {"op":"error","err":{...}} and stops when it
// cannot go on (fatal failure, too many failures); the coordinator sends
// close to stop a worker early; EOF on stdin stops a worker whose
// coordinator died.

// Ops.
const (
	opSpec      = "spec"
	opReady     = "ready"
	opDial      = "dial"
	opStart     = "start"
	opClose     = "close"
	opProgress  = "progress"
	opConnected = "connected"
	opDone      = "done"
	opError     = "error"
	opClosed    = "closed"
)

// ctlMsg is a coordinator-to-worker line.
type ctlMsg struct {
	Op   string      `json:"op"`
	Spec *workerSpec `json:"spec,omitempty"`
	At   int64       `json:"at,omitempty"` // dial: second 0 of the series; start: the load phase (clock.go ns)
}

// workerMsg is a worker-to-coordinator line.
type workerMsg struct {
	Op       string        `json:"op"`
	Worker   int           `json:"worker"`
	Progress *progressMsg  `json:"progress,omitempty"`
	Result   *workerResult `json:"result,omitempty"`
	Err      *FailError    `json:"err,omitempty"`
}

// progressMsg is a worker's state at the end of a second.
type progressMsg struct {
	Second
	Connected int `json:"connected"`
	Failed    int `json:"failed"`
	// Live is the second's histograms and running counts (live.go).
	Live *liveDelta `json:"live,omitempty"`
	// Mix is a staged run's stages and seconds finished (pilot.go).
	Mix *mixProgress `json:"mix,omitempty"`
}

// workerEnv marks a process started as a worker.
const workerEnv = "WSBENCH_WORKER"

// IsWorker reports whether this process was started as a bench worker; its
// main must then call WorkerMain and exit with its result, before parsing
// flags. Test binaries that run --procs > 1 do the same in TestMain.
func IsWorker() bool { return os.Getenv(workerEnv) == "1" }

// WorkerMain serves the worker protocol on stdin and stdout and returns the
// process exit code.
func WorkerMain() int {
	if err := serveWorker(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// serveWorker runs one worker on the protocol streams.
func serveWorker(in io.Reader, out io.Writer) error {
	dec := json.NewDecoder(bufio.NewReader(in))
	var first ctlMsg
	if err := dec.Decode(&first); err != nil || first.Op != opSpec || first.Spec == nil {
		return fmt.Errorf("bench: worker: expected a spec line: %v", err)
	}
	ctl := make(chan ctlMsg, 4)
	go func() {
		defer close(ctl) // EOF: the coordinator is gone
		for {
			var m ctlMsg
			if err := dec.Decode(&m); err != nil {
				return
			}
			ctl <- m
		}
	}()
	var mu sync.Mutex
	enc := json.NewEncoder(out)
	send := func(m workerMsg) {
		m.Worker = first.Spec.Index
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(m)
	}
	runWorker(*first.Spec, ctl, send)
	return nil
}

// runWorker is a worker's life; see the protocol above.
func runWorker(spec workerSpec, ctl <-chan ctlMsg, send func(workerMsg)) {
	raiseFileLimit()
	if limit := fileLimit(); spec.Hi-spec.Lo+fdSlack > limit {
		send(workerMsg{Op: opError, Err: fileLimitError(spec.Hi-spec.Lo, spec.Config.Conns)})
		waitClose(ctl)
		return
	}
	w, err := newWorker(spec)
	if err == nil {
		err = w.start()
	}
	if err != nil {
		fe, ok := err.(*FailError)
		if !ok {
			fe = &FailError{Reason: ReasonOther, Msg: err.Error()}
		}
		send(workerMsg{Op: opError, Err: fe})
		waitClose(ctl)
		return
	}
	defer func() {
		w.closeAll()
		send(workerMsg{Op: opClosed})
	}()
	// The coordinator takes the servers' memory baseline now, just before
	// the first connection.
	send(workerMsg{Op: opReady})
	var m ctlMsg
	var ok bool
	for {
		if m, ok = <-ctl; !ok || m.Op == opClose || m.Op == opDial {
			break
		}
	}
	if !ok || m.Op == opClose {
		return
	}
	w.t0 = m.At
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.pace(ctx)
	go w.sampler(ctx, send)

	// Connect phase, bounded: the ramp, then the per-connection timeouts.
	// A staged mix dials as its stages go, in the load phase (pilot.go).
	if w.pilot != nil {
		w.doneOnce.Do(func() { close(w.done) })
	} else {
		go w.dialAll()
	}
	budget := time.NewTimer(spec.Config.connectBudget())
	defer budget.Stop()
	select {
	case <-w.done:
	case <-budget.C:
		w.stop(&FailError{Reason: ReasonHandshakeTimeout, Msg: fmt.Sprintf(
			"bench: %d of %d connections neither opened nor failed within %v", int64(w.share())-w.settledN.Load(), w.share(), spec.Config.connectBudget())})
	case m, ok := <-ctl:
		if !ok || m.Op == opClose {
			w.stop(&FailError{Reason: ReasonOther, Msg: "bench: stopped by the coordinator"})
			return
		}
	}
	w.failMu.Lock()
	abortErr := w.abortErr
	w.failMu.Unlock()
	if abortErr != nil {
		send(workerMsg{Op: opError, Err: abortErr, Result: w.result()})
		waitClose(ctl)
		return
	}
	send(workerMsg{Op: opConnected, Result: &workerResult{Connected: int(w.connected.Load())}})

	// Load phase.
	for {
		if m, ok = <-ctl; !ok || m.Op == opClose || m.Op == opStart {
			break
		}
	}
	if !ok || m.Op == opClose {
		return
	}
	w.stopAt.Store(m.At + int64(spec.Config.Duration))
	if w.pilot != nil {
		w.pilot.begin(m.At) // before the loops see startAt
		w.startAt.Store(m.At)
		w.pilot.runLoad(ctx, ctl, send)
		return
	}
	w.startAt.Store(m.At)
	w.waitLoad(ctl)
	if spec.Config.Scenario == AttackOutbound {
		w.drainHogs() // their fates, read before the result
	}
	send(workerMsg{Op: opDone, Result: w.result()})
	waitClose(ctl)
}

// waitLoad returns when the load phase and its drain are over: echo's
// slots all sent or skipped and its replies all in (or Drain has passed),
// broadcast and chat have received for Drain after the last send.
func (w *worker) waitLoad(ctl <-chan ctlMsg) {
	stop := w.stopAt.Load()
	end := stop + int64(w.cfg.Drain)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case m, ok := <-ctl:
			if !ok || m.Op == opClose {
				return
			}
		case <-w.abort: // a staged run's fatal failure (pilot.go)
			return
		case <-t.C:
			now := nowNanos()
			if done := w.linesDone.Load(); done != 0 && now > done+int64(w.cfg.Drain) {
				return
			}
			if now < stop {
				continue
			}
			echo := w.cfg.Scenario == Echo || w.cfg.Scenario == AttackInbound
			if now > end || (echo && w.outstanding() == 0) || w.cfg.Scenario == Connect {
				return
			}
		}
	}
}

// sampler sends a progress line once a second, on seconds counted from
// the dial (w.t0), and watches the wall clock for steps.
func (w *worker) sampler(ctx context.Context, send func(workerMsg)) {
	for k := 1; ; k++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(w.t0 + int64(k)*int64(time.Second) - nowNanos())):
		}
		w.steps.check()
		s := w.sample(k - 1)
		w.failMu.Lock()
		failed := w.nfailed
		w.failMu.Unlock()
		pm := &progressMsg{Second: s, Connected: int(w.connected.Load()), Failed: failed}
		if w.spec.Live {
			pm.Live = w.liveDelta()
		}
		if w.pilot != nil {
			pm.Mix = w.pilot.collect(nowNanos(), false)
		}
		send(workerMsg{Op: opProgress, Progress: pm})
	}
}

// waitClose waits for the coordinator's close (or EOF).
func waitClose(ctl <-chan ctlMsg) {
	for m := range ctl {
		if m.Op == opClose {
			return
		}
	}
}
