package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"edgews/codec/tlsrec"
	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/panjf2000/gnet/v2"
)

// workerSpec is a worker's share of a run.
type workerSpec struct {
	Config Config `json:"config"` // with defaults applied
	Index  int    `json:"index"`
	Lo     int    `json:"lo"` // users lo..hi-1 are this worker's
	Hi     int    `json:"hi"`
	// Seed makes the chat talkers' timetables, the same in every process
	// and in the coordinator (schedule.go).
	Seed uint64 `json:"seed"`
	// Live: the coordinator serves a live view (live.go), so the progress
	// lines carry their seconds' histograms.
	Live bool `json:"live,omitempty"`
}

// worker runs one share of the users on its own gnet client. It is the
// same code in-process (Procs == 1) and in a worker process.
type worker struct {
	cfg     Config
	spec    workerSpec
	addr    string   // host:port of URLs[0] (the attacks' only server)
	host    string   // its Host header
	path    string   // its request path
	targets []target // every URL; user i dials targets[cfg.NodeOf(i)]
	sources sourcePlan
	talkers int // chat
	// slots[k] is how many slots sender k has (broadcast, chat,
	// attack-outbound): its valid sequence numbers.
	slots []uint32
	// t0 is second 0 of the series: when dialing began (clock.go ns).
	t0 int64

	cli     *gnet.Client   // set by start, before any dialer runs; never cleared
	react   *reactor       // its event handler
	tlsCfg  []*tls.Config  // per target: the client TLS configuration of a wss URL, or nil
	tlsPool *tlsrec.Pool   // the TLS handshakes' workers, with a wss URL
	dialers sync.WaitGroup // dialAll's goroutines

	loopsMu sync.Mutex
	loops   []*loop
	byEL    map[gnet.EventLoop]*loop

	// Phase times, clock.go ns; zero until the coordinator's start arrives.
	startAt, stopAt atomic.Int64
	closing         atomic.Bool
	// linesDone is when attack-outbound's sender sent its last line (Unix
	// ns, 0: not yet): the drain starts then rather than at stopAt.
	linesDone atomic.Int64

	// Connect-phase accounting. settled counts connections that opened or
	// failed; done is closed when all have, or on abort. rampBegin is when
	// the first dial was due and lastOpen when the last connection opened
	// (clock.go ns): the achieved ramp.
	connected, open, settledN atomic.Int64
	rampBegin, lastOpen       atomic.Int64
	done                      chan struct{}
	doneOnce                  sync.Once
	abort                     chan struct{}
	abortOnce                 sync.Once
	abortErr                  *FailError

	failMu   sync.Mutex
	fails    map[string]int
	examples map[string]*FailError
	nfailed  int
	// Per URL (index as in targets): users dialed, connected, failed.
	nodeConnected, nodeFailed []atomic.Int64

	// names maps user index to the name the chat gave it, learned from
	// broadcasts, for whispers; nil unless whispers are on.
	names   []atomic.Pointer[[]byte]
	namesMu sync.Mutex
	named   []int // indexes with a name, for picking

	hogsMu sync.Mutex // attack-outbound's hogs, outside gnet (see hog.go)
	hogs   []*hog

	seriesMu sync.Mutex // series is appended by the sampler, read by result
	series   []Second
	lastCum  loopStats // the sampler's only

	pilot   *pilot         // a staged mix (pilot.go); nil otherwise
	srcN    []atomic.Int64 // connections opened per source address (source.go)
	ivlLat  *hdr.Histogram // the sampler's: loops' interval histograms merged (live.go)
	ivlConn *hdr.Histogram

	steps *stepWatch // wall-clock steps since the worker began
}

func newWorker(spec workerSpec) (*worker, error) {
	cfg := spec.Config
	if len(cfg.URLs) == 0 {
		cfg.URLs = []string{cfg.URL}
	}
	w := &worker{cfg: cfg, spec: spec,
		byEL: make(map[gnet.EventLoop]*loop), done: make(chan struct{}), abort: make(chan struct{}),
		fails: map[string]int{}, examples: map[string]*FailError{},
		nodeConnected: make([]atomic.Int64, len(cfg.URLs)), nodeFailed: make([]atomic.Int64, len(cfg.URLs))}
	for _, s := range cfg.URLs {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("bench: bad URL %q: %w", s, err)
		}
		w.targets = append(w.targets, target{addr: u.Host, path: u.RequestURI(), tls: u.Scheme == "wss"})
		host, _, _ := net.SplitHostPort(u.Host)
		if w.sources, err = planSources(&cfg, host); err != nil {
			return nil, err
		}
	}
	w.addr, w.host, w.path = w.targets[0].addr, w.targets[0].addr, w.targets[0].path
	if err := w.tlsConfigs(); err != nil {
		return nil, err
	}
	w.srcN = make([]atomic.Int64, w.sources.count())
	w.ivlLat, w.ivlConn = newHist(), newHist()
	if cfg.Scenario == Mixed {
		w.pilot = newPilot(w)
	}
	w.talkers = cfg.talkers()
	if cfg.Scenario == Chat && cfg.WhisperFrac > 0 {
		w.names = make([]atomic.Pointer[[]byte], cfg.Conns)
	}
	w.slots = make([]uint32, cfg.sendersOf())
	for k := range w.slots {
		w.slots[k] = cfg.slotsOf(spec.Seed, k, false).n
	}
	w.steps = newStepWatch()
	return w, nil
}

// senderOrdinal is user id's ordinal among the senders (see
// Config.sendersOf), if it is one.
func (w *worker) senderOrdinal(id int) (int, bool) {
	if w.cfg.Scenario == AttackOutbound {
		return 0, id == w.cfg.users()-1
	}
	if id < 0 || id >= w.cfg.Conns || len(w.slots) == 0 {
		return 0, false
	}
	return senderIndex(id, w.cfg.Conns, len(w.slots))
}

// newSender returns the sending state of user id, nil if it sends on no
// timetable (closed-loop echo, idle users, receivers).
func (w *worker) newSender(id int) *sender {
	cfg := &w.cfg
	if cfg.openLoop() {
		return &sender{k: id, tt: cfg.timetableOf(w.spec.Seed, id), slots: cfg.slotsOf(w.spec.Seed, id, false).n}
	}
	k, ok := w.senderOrdinal(id)
	if !ok {
		return nil
	}
	s := &sender{k: k, tt: cfg.timetableOf(w.spec.Seed, k), slots: w.slots[k]}
	s.sent = newBitmap(s.slots)
	if cfg.WhisperFrac > 0 {
		s.to = make([]int32, s.slots)
		for i := range s.to {
			s.to[i] = -1
		}
	}
	return s
}

// target is one server URL, split for dialing and the upgrade request.
type target struct {
	addr string // host:port, also the Host header
	path string // request path and query
	tls  bool   // wss
}

// start runs the gnet client with the configured number of loops.
func (w *worker) start() error {
	logf := w.cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	w.react = &reactor{w: w}
	w.startTLSPool()
	cli, err := gnet.NewClient(w.react,
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(w.cfg.Loops),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(gnetLogger{logf}))
	if err == nil {
		err = cli.Start()
	}
	if err != nil {
		if w.tlsPool != nil {
			w.tlsPool.Close()
		}
		return fmt.Errorf("bench: gnet client: %w", err)
	}
	w.cli = cli
	return nil
}

// loopOf returns the bench loop of a gnet event loop, creating it on first
// sight (gnet's client does not list its loops; every connection names one).
func (w *worker) loopOf(el gnet.EventLoop) *loop {
	w.loopsMu.Lock()
	defer w.loopsMu.Unlock()
	if l := w.byEL[el]; l != nil {
		return l
	}
	l := newLoop(w, el, uint64(w.spec.Index)<<16|uint64(len(w.loops)))
	w.byEL[el] = l
	w.loops = append(w.loops, l)
	return l
}

func (w *worker) loopList() []*loop {
	w.loopsMu.Lock()
	defer w.loopsMu.Unlock()
	return append([]*loop(nil), w.loops...)
}

func (w *worker) share() int { return w.spec.Hi - w.spec.Lo }

// opened counts a completed upgrade of a user of URL node at now.
func (w *worker) opened(node int, now int64) {
	w.nodeConnected[node].Add(1)
	w.connected.Add(1)
	w.open.Add(1)
	for {
		last := w.lastOpen.Load()
		if now <= last || w.lastOpen.CompareAndSwap(last, now) {
			break
		}
	}
	w.settle()
}

// closedOpen counts an open connection going away.
func (w *worker) closedOpen() { w.open.Add(-1) }

func (w *worker) settle() {
	if w.settledN.Add(1) >= int64(w.share()) {
		w.doneOnce.Do(func() { close(w.done) })
	}
}

// failed counts a connection to URL node that could not be opened, and
// aborts the run when the failure is fatal or too many have failed.
func (w *worker) failed(node int, fe *FailError) {
	w.nodeFailed[node].Add(1)
	w.failMu.Lock()
	k := fe.key()
	if w.pilot != nil {
		w.pilot.failed(k)
	}
	w.fails[k]++
	w.nfailed++
	if w.examples[k] == nil {
		w.examples[k] = fe
	}
	n, max := w.nfailed, w.cfg.maxFailures()
	var abort *FailError
	if fe.fatal() || (max >= 0 && n > max) {
		abort = &FailError{Reason: fe.Reason, Status: fe.Status, Msg: fe.Msg, Count: w.fails[k]}
	}
	w.failMu.Unlock()
	w.settle()
	if abort != nil {
		w.stop(abort)
	}
}

// stop aborts the connect phase with err.
func (w *worker) stop(err *FailError) {
	w.abortOnce.Do(func() {
		w.failMu.Lock()
		w.abortErr = err
		w.failMu.Unlock()
		close(w.abort)
		w.doneOnce.Do(func() { close(w.done) })
	})
}

// lost counts an open connection the server closed (or broke). A user
// the run counted is expected to receive nothing sent from then on (or
// after the newest message it had, if a clock between processes says
// otherwise); what was sent before and never came is lost.
func (w *worker) lost(l *loop, c *conn, fe *FailError) {
	if l.started {
		l.st.disconnects++
		if c.counted {
			l.left = append(l.left, leftUser{User: c.id, Node: c.node, Cut: max(nowNanos(), c.lastStamp+1)})
		}
	}
	w.failMu.Lock()
	if w.examples["disconnect"] == nil {
		w.examples["disconnect"] = fe
	}
	w.failMu.Unlock()
}

// pace posts a tick to every loop: every millisecond while senders on a
// timetable are sending (slots are sent within a millisecond of their time,
// or sooner when a read wakes the loop; the lag is measured), every
// 20 ms otherwise (handshake timeouts, pings, the start of the load phase,
// to which it wakes up exactly). It returns when ctx is done.
func (w *worker) pace(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, l := range w.loopList() {
			if !l.queued.Swap(true) {
				if err := l.el.Execute(ctx, l); err != nil {
					l.queued.Store(false)
				}
			}
		}
		now := nowNanos()
		next := now + int64(20*time.Millisecond)
		start, stop := w.startAt.Load(), w.stopAt.Load()
		switch {
		case start != 0 && now >= start && now < stop && w.cfg.scheduled():
			next = now + int64(time.Millisecond)
		case start != 0 && now < start:
			next = min(next, start)
		}
		t.Reset(time.Duration(next - now))
	}
}

// sample sums the loops' counters into one Second of the series. Called once
// a second by the sampler.
func (w *worker) sample(t int) Second {
	var cum loopStats
	var p99 float64
	for _, l := range w.loopList() {
		l.mu.Lock()
		cum.Sent += l.st.Sent
		cum.Received += l.st.Received
		cum.Bytes += l.st.Bytes
		if l.ivl.TotalCount() > 0 {
			p99 = max(p99, float64(l.ivl.ValueAtQuantile(99)))
			if w.spec.Live {
				w.ivlLat.Merge(l.ivl)
			}
			l.ivl.Reset()
		}
		if w.spec.Live {
			w.ivlConn.Merge(l.ivlConn)
		}
		l.ivlConn.Reset()
		l.mu.Unlock()
	}
	s := Second{T: t, Conns: int(w.open.Load()),
		Sent: cum.Sent - w.lastCum.Sent, Received: cum.Received - w.lastCum.Received, Bytes: cum.Bytes - w.lastCum.Bytes, P99Us: p99}
	w.lastCum = cum
	w.seriesMu.Lock()
	w.series = append(w.series, s)
	w.seriesMu.Unlock()
	return s
}

// outstanding is echo's messages still awaiting their echo, plus the
// senders with slots not yet sent or skipped, over all loops.
func (w *worker) outstanding() int64 {
	var n int64
	for _, l := range w.loopList() {
		l.mu.Lock()
		n += l.st.inflight + int64(l.heap.len())
		l.mu.Unlock()
	}
	return n
}

// result collects the worker's result. The loops keep running: the
// sampler's lock is what makes reading their state safe.
func (w *worker) result() *workerResult {
	r := &workerResult{Worker: w.spec.Index, Connected: int(w.connected.Load()), RampBegin: w.rampBegin.Load(),
		LastOpen: w.lastOpen.Load(), ClockStepNs: w.steps.check()}
	w.failMu.Lock()
	r.Failed = w.nfailed
	r.Failures = make(map[string]int, len(w.fails))
	for k, v := range w.fails {
		r.Failures[k] = v
	}
	r.FailureExamples = make(map[string]*FailError, len(w.examples))
	for k, v := range w.examples {
		r.FailureExamples[k] = v
	}
	w.failMu.Unlock()
	for i := range w.nodeConnected {
		r.ConnectedN = append(r.ConnectedN, int(w.nodeConnected[i].Load()))
		r.FailedN = append(r.FailedN, int(w.nodeFailed[i].Load()))
	}
	conn, lat, lag, tlsHS := newHist(), newHist(), newHist(), newHist()
	if n := len(w.slots); n > 0 {
		r.Seen, r.SentSlots, r.Replies = make([][]uint64, n), make([][]uint64, n), make([]int64, n)
	}
	for _, l := range w.loopList() {
		l.mu.Lock()
		conn.Merge(l.connect)
		tlsHS.Merge(l.tlsHS)
		lat.Merge(l.lat)
		lag.Merge(l.lag)
		st := &l.st
		r.OpenAtStart += st.openAtStart
		r.Disconnects += st.disconnects
		r.msgCounts.add(st.msgCounts)
		r.Pairs = addPairs(r.Pairs, l.pairs)
		for k, b := range l.seen {
			r.Seen[k] = orInto(r.Seen[k], b)
		}
		for _, t := range l.senders {
			r.SentSlots[t.k] = orInto(r.SentSlots[t.k], t.sent)
			r.Replies[t.k] += t.replies
			for q, to := range t.to {
				if to >= 0 && hasBit(t.sent, uint32(q)) {
					r.Whispers = append(r.Whispers, whisperSent{Sender: t.k, Seq: uint32(q), To: int(to)})
				}
			}
		}
		r.Left = append(r.Left, l.left...)
		r.OpenN = addInto(r.OpenN, l.openN)
		r.SentN = addInto(r.SentN, l.sentN)
		r.RecvN = addInto(r.RecvN, l.recvN)
		l.mu.Unlock()
	}
	r.ConnectHDR, r.LatencyHDR, r.LagHDR, r.TLSHDR = encodeHist(conn), encodeHist(lat), encodeHist(lag), encodeHist(tlsHS)
	if w.cfg.Scenario.attack() {
		r.Attack = w.attackResult()
		r.LinesDone = w.linesDone.Load()
	}
	w.seriesMu.Lock()
	r.Series = append([]Second(nil), w.series...)
	w.seriesMu.Unlock()
	r.Sources = w.sourceCounts()
	if w.pilot != nil {
		r.Mix = w.pilot.collect(nowNanos(), true)
	}
	return r
}

// addPairs adds b to a pair by pair, growing a as needed.
func addPairs(a, b []pairCounts) []pairCounts {
	for len(a) < len(b) {
		a = append(a, pairCounts{})
	}
	for i := range b {
		a[i].add(b[i])
	}
	return a
}

// closeAll closes every connection (after a close frame) and stops the
// gnet client.
func (w *worker) closeAll() {
	w.closing.Store(true)
	if w.cli == nil {
		return
	}
	// Dialers stop at the abort; one in the middle of a dial ends within the
	// dial timeout. Stopping the client under an Enroll would leak its socket.
	w.stop(&FailError{Reason: ReasonOther, Msg: "bench: closing"})
	done := make(chan struct{})
	go func() { w.dialers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(w.cfg.DialTimeout + time.Second):
	}
	var wg sync.WaitGroup
	for _, l := range w.loopList() {
		wg.Add(1)
		err := l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			defer wg.Done()
			l.closeAll()
			return nil
		}))
		if err != nil {
			wg.Done()
		}
	}
	waitTimeout(&wg, 5*time.Second)
	w.closeHogs()
	_ = w.cli.Stop()
	if w.tlsPool != nil {
		w.tlsPool.Close() // every connection is closed: their handshakes are aborted
	}
}

// waitTimeout waits for wg at most d.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}
