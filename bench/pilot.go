package bench

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/panjf2000/gnet/v2"
)

// The worker side of a staged run (Scenario Mixed). The stages' slots are
// dealt over all workers of the run (of every agent): slot i is worker
// i%n's local slot i/n, so that every worker opens and closes its share
// as the count moves, and slot i is open exactly while the schedule's
// count is above i (stages.go). The pilot goroutine follows the schedule:
// it queues the slots to open for the dialers and posts the closes to the
// loops; the loops do everything else (mix.go).
//
// Per stage the worker reports, once the stage is over, its connections
// open at the stage's end, what opened, closed, failed and was lost in it,
// its messages and its histograms; per accounting second, once every
// delivery of it had Drain to arrive, its chat counts (mixBucket). Both go
// to the coordinator with the next progress line, so a worker that dies
// has reported everything up to its last line.

// pilot is a worker's staged run.
type pilot struct {
	w     *worker
	n, k  int       // workers in the run (Config.Procs), this one's index
	kinds []mixKind // per local slot
	json  []bool    // per local slot: speaks chat.v1+json
	slots []atomic.Pointer[conn]
	sched *schedule // set by begin, before any dial
	cur   int       // local slots 0..cur-1 are wanted open (run's goroutine only)

	dqMu  sync.Mutex // the dial queue, fed by run, drained by the dialers
	dq    []*conn
	dqSig chan struct{}

	mu    sync.Mutex
	fails map[string]int // its failures by reason
	// nCancelled counts the stage's slots closed before they were
	// enrolled (the loops count the later ones).
	nCancelled int
	pending    []stageResult     // finished stages not reported yet
	buckets    []mixBucket       // finalized seconds not reported yet
	through    int64             // seconds below are finalized
	rolled     int               // stages rolled
	final      bool              // the result took the last stages and seconds (collectMu)
	scratch    [3]*hdr.Histogram // echo, chat, connect: merged per stage

	collectMu sync.Mutex // one collect at a time (sampler and final)

	names   []atomic.Pointer[learnedName] // by global slot: whispers only
	namedMu sync.Mutex
	named   []int
}

// mixKind is what one user of a mix does.
type mixKind uint8

const (
	kindIdle mixKind = iota
	kindEcho
	kindChat
)

func newPilot(w *worker) *pilot {
	cfg := &w.cfg
	p := &pilot{w: w, n: max(cfg.Procs, 1), k: w.spec.Index, dqSig: make(chan struct{}, 1), fails: map[string]int{}}
	share := mixShare(cfg.Conns, p.n, p.k)
	p.kinds, p.json = dealMix(cfg.Mix, share)
	p.slots = make([]atomic.Pointer[conn], share)
	for i := range p.scratch {
		p.scratch[i] = newHist()
	}
	if cfg.Mix.Whisper > 0 && cfg.Mix.Chat > 0 {
		p.names = make([]atomic.Pointer[learnedName], cfg.Conns)
	}
	return p
}

// mixShare is how many of peak slots worker k of n holds.
func mixShare(peak, n, k int) int {
	if peak <= k {
		return 0
	}
	return (peak - k + n - 1) / n
}

// dealMix deals n users to the mix's kinds, each the kind furthest below
// its share so far, so that every prefix holds the mix within one user;
// the JSON speakers are dealt the same way among the chat route's users.
func dealMix(m *Mix, n int) ([]mixKind, []bool) {
	f := [3]float64{m.Idle, m.Echo, m.Chat}
	var have [3]float64
	kinds, json := make([]mixKind, n), make([]bool, n)
	room := 0
	for j := range n {
		best, bestD := 0, math.Inf(-1)
		for k, fk := range f {
			if d := fk*float64(j+1) - have[k]; d > bestD+1e-12 {
				best, bestD = k, d
			}
		}
		have[best]++
		kinds[j] = mixKind(best)
		if m.pathOf(kinds[j]) == m.ChatPath {
			json[j] = int(float64(room+1)*m.JSON) > int(float64(room)*m.JSON)
			room++
		}
	}
	return kinds, json
}

// pathOf is the route of a kind's users.
func (m *Mix) pathOf(k mixKind) string {
	switch k {
	case kindEcho:
		return m.EchoPath
	case kindChat:
		return m.ChatPath
	}
	return m.IdlePath
}

// begin puts the stages on the clock at start (Unix ns); before the
// start time arrives nothing is dialed.
func (p *pilot) begin(start int64) { p.sched = newSchedule(start, p.w.cfg.Stages) }

// slotID is the global slot of local slot j.
func (p *pilot) slotID(j int) int { return j*p.n + p.k }

// want is how many local slots are open at t.
func (p *pilot) want(t int64) int { return min(mixShare(p.sched.count(t), p.n, p.k), len(p.slots)) }

// run follows the stages until they end (or the worker aborts).
func (p *pilot) run(ctx context.Context) {
	w := p.w
	if !sleepUntil(ctx, w.abort, p.sched.start) {
		return
	}
	for range min(w.cfg.Dialers, max(len(p.slots), 1)) {
		w.dialers.Go(p.dialLoop)
	}
	stop := p.sched.end()
	for {
		now := nowNanos()
		// A stage that ended is rolled once what it wanted by its end is
		// under way: the pilot may wake late, not the count.
		for p.rolled < len(p.sched.ends)-1 && now >= p.sched.ends[p.rolled] {
			p.follow(p.sched.ends[p.rolled], now)
			p.roll(now, false)
		}
		// At the end too: the last stage's target holds through the drain.
		p.follow(min(now, stop), now)
		if now >= stop || !sleepUntil(ctx, w.abort, p.next(now)) {
			return
		}
	}
}

// follow opens or closes local slots to what the stages want at t.
func (p *pilot) follow(t, now int64) {
	want := p.want(t)
	for p.cur < want {
		p.open(p.cur, now)
		p.cur++
	}
	for p.cur > want {
		p.cur--
		p.close(p.cur)
	}
}

// next is when the pilot must act after now: the next slot to open or
// close, the next stage's end (to roll it), or the end.
func (p *pilot) next(now int64) int64 {
	next := p.sched.end()
	for i := p.rolled; i < len(p.sched.ends)-1; i++ {
		if e := p.sched.ends[i]; e > now {
			next = min(next, e)
			break
		}
	}
	if p.cur < len(p.slots) {
		for _, c := range p.sched.crossings(p.slotID(p.cur)) {
			if c.up && c.t > now {
				next = min(next, c.t)
				break
			}
		}
	}
	if p.cur > 0 {
		next = min(next, p.sched.closesAt(p.slotID(p.cur-1), now))
	}
	return max(next, now+int64(50*time.Microsecond))
}

// sleepUntil waits until t (Unix ns); false if ctx or abort ended it.
func sleepUntil(ctx context.Context, abort <-chan struct{}, t int64) bool {
	d := time.Duration(t - nowNanos())
	if d <= 0 {
		return true
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
	case <-abort:
	}
	return false
}

// open queues local slot j for a dial, due when the schedule reached it.
func (p *pilot) open(j int, now int64) {
	id := p.slotID(j)
	due := p.sched.openedAt(id, now)
	if due == 0 || due > now {
		due = now
	}
	kind := p.kinds[j]
	c := &conn{id: id, node: p.w.cfg.NodeOf(id), idx: -1, hidx: -1, dialed: due,
		mx: &mixConn{kind: kind, json: p.json[j], room: p.w.cfg.Mix.pathOf(kind) == p.w.cfg.Mix.ChatPath,
			closeAt: p.sched.closesAt(id, now), b0: math.MaxInt64, b1: -1}}
	p.slots[j].Store(c)
	p.dqMu.Lock()
	p.dq = append(p.dq, c)
	p.dqMu.Unlock()
	select {
	case p.dqSig <- struct{}{}:
	default:
	}
}

// close closes local slot j's connection: a close frame and a TCP close
// on its loop, or no dial at all if it is still queued.
func (p *pilot) close(j int) {
	c := p.slots[j].Swap(nil)
	if c == nil {
		return
	}
	c.mx.cancel.Store(true)
	// OnOpen stores the loop before it reads cancel: one of the two sees
	// the other (mixOpen).
	if l := c.mx.loop.Load(); l != nil {
		_ = l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			l.closePlanned(c)
			return nil
		}))
	}
}

// dialLoop is one dialer: it dials queued slots until the worker stops.
func (p *pilot) dialLoop() {
	for {
		p.dqMu.Lock()
		var c *conn
		if len(p.dq) > 0 {
			c = p.dq[0]
			p.dq[0] = nil
			p.dq = p.dq[1:]
		}
		more := len(p.dq) > 0
		p.dqMu.Unlock()
		if c == nil {
			select {
			case <-p.dqSig:
				continue
			case <-p.w.abort:
				return
			}
		}
		if more {
			select { // wake another dialer for the rest
			case p.dqSig <- struct{}{}:
			default:
			}
		}
		if c.mx.cancel.Load() {
			p.cancelled()
		} else {
			p.w.dialConn(c)
		}
		if c.mx.loop.Load() == nil { // not enrolled (OnOpen sets it): failed or cancelled
			c.mx.phase.Store(phaseOver)
		}
	}
}

// cancelled counts a slot closed before its dial was enrolled.
func (p *pilot) cancelled() {
	p.mu.Lock()
	p.nCancelled++
	p.mu.Unlock()
}

// failed counts a failure of the current stage (under w.failMu).
func (p *pilot) failed(key string) {
	p.mu.Lock()
	p.fails[key]++
	p.mu.Unlock()
}

// roll closes the next stage if it ended by now (every stage left when
// final): its loop counters and histograms, the failures, the slots
// connected and on their way.
func (p *pilot) roll(now int64, final bool) {
	last := len(p.sched.ends) - 1
	for p.rolled < len(p.sched.ends) && (final || (p.rolled < last && now >= p.sched.ends[p.rolled])) {
		// The slots wanted open, each read once: connected or on its way.
		r := stageResult{Stage: p.rolled}
		for j := range p.cur {
			if c := p.slots[j].Load(); c != nil {
				switch c.mx.phase.Load() {
				case phaseUp:
					r.Connected++
				case phaseOpening:
					r.Opening++
				}
			}
		}
		for _, l := range p.w.loopList() {
			l.mu.Lock()
			if final {
				l.mixEchoLost()
			}
			l.mx.st.addTo(&r, p.scratch)
			l.mx.st.reset()
			l.mu.Unlock()
		}
		r.EchoHDR, r.ChatHDR, r.ConnectHDR = encodeHist(p.scratch[0]), encodeHist(p.scratch[1]), encodeHist(p.scratch[2])
		for _, h := range p.scratch {
			h.Reset()
		}
		p.mu.Lock()
		r.Failures, p.fails = p.fails, map[string]int{}
		r.Cancelled += p.nCancelled
		p.nCancelled = 0
		for _, n := range r.Failures {
			r.Failed += n
		}
		p.pending = append(p.pending, r)
		p.mu.Unlock()
		p.rolled++
		if !final {
			return
		}
	}
}

// collect finalizes the accounting seconds whose deliveries had Drain to
// arrive (all of them when final), and returns what was not reported yet.
func (p *pilot) collect(now int64, final bool) *mixProgress {
	if p.sched == nil {
		return nil
	}
	p.collectMu.Lock()
	defer p.collectMu.Unlock()
	if p.final {
		// All went with the result: a later line must not say more was
		// finalized than the coordinator has seen (it reads the result last).
		return nil
	}
	p.final = final
	if final {
		p.roll(now, true)
	}
	limit := p.sched.bucketOf(now - int64(p.w.cfg.Drain) - int64(mixMargin)) // the last second that ended long enough ago
	if final {
		limit = p.sched.bucketOf(now)
	}
	limit = min(limit, p.sched.bucketOf(p.sched.end()+int64(p.w.cfg.Drain)))
	p.mu.Lock()
	from := p.through
	p.mu.Unlock()
	if limit >= from {
		sums := make([]mixBucket, limit-from+1)
		for i := range sums {
			sums[i].B = from + int64(i)
		}
		for _, l := range p.w.loopList() {
			l.mu.Lock()
			l.mixFinalize(now, from, limit, sums)
			l.mu.Unlock()
		}
		p.mu.Lock()
		for _, b := range sums {
			if b != (mixBucket{B: b.B}) {
				p.buckets = append(p.buckets, b)
			}
		}
		p.through = limit + 1
		p.mu.Unlock()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	mp := &mixProgress{Stages: p.pending, Buckets: p.buckets, Through: p.through, Final: final}
	p.pending, p.buckets = nil, nil
	return mp
}

// mixMargin is how long after a second's Drain its counts are finalized:
// slack for the loops' own delays.
const mixMargin = 500 * time.Millisecond

// mixProgress is a staged run's data on the protocol: stages finished and
// seconds finalized since the last line.
type mixProgress struct {
	Stages  []stageResult `json:"stages,omitempty"`
	Buckets []mixBucket   `json:"buckets,omitempty"`
	// Through: every second below it is finalized (and reported).
	Through int64 `json:"through"`
	// Final: nothing follows (the worker's last stage and seconds).
	Final bool `json:"final,omitempty"`
}

// stageResult is one worker's part of a stage.
type stageResult struct {
	Stage     int            `json:"stage"`     // index in Config.Stages
	Connected int            `json:"connected"` // open at the stage's end
	Opening   int            `json:"opening"`   // wanted open at its end, not connected yet
	Opened    int            `json:"opened"`
	Closed    int            `json:"closed"`    // closed by the schedule
	Cancelled int            `json:"cancelled"` // closed by the schedule before they were connected
	Failed    int            `json:"failed"`
	Failures  map[string]int `json:"failures,omitempty"`
	// Disconnects: open connections the server closed.
	Disconnects   int    `json:"disconnects"`
	EchoSent      int64  `json:"echo_sent"`
	EchoRecv      int64  `json:"echo_recv"`
	EchoLost      int64  `json:"echo_lost"` // sent, never echoed before the connection closed
	EchoExtra     int64  `json:"echo_extra"`
	EchoDup       int64  `json:"echo_dup,omitempty"` // echo replies had already
	ChatSent      int64  `json:"chat_sent"`
	ChatRecv      int64  `json:"chat_recv"` // every delivery, counted in the accounting or not
	WhisperSent   int64  `json:"whisper_sent"`
	WhisperEchoes int64  `json:"whisper_echoes"`
	Bytes         int64  `json:"bytes"`
	Other         int64  `json:"other"`
	Late          int64  `json:"late"`      // sends skipped, over lateLimit behind their schedule
	LateRecv      int64  `json:"late_recv"` // accounted deliveries after their second was finalized: among the lost
	EchoHDR       string `json:"echo_hdr,omitempty"`
	ChatHDR       string `json:"chat_hdr,omitempty"`
	ConnectHDR    string `json:"connect_hdr,omitempty"`
}

// mixBucket is the chat accounting of one second (by send time): what
// the talkers sent and got back (accepted), the room members who were
// connected for all of it and long enough after (Stable), and what they
// received of it.
type mixBucket struct {
	B      int64 `json:"b"`
	Sent   int64 `json:"sent"`
	Acked  int64 `json:"acked"`
	Stable int64 `json:"stable"`
	Recv   int64 `json:"recv"`
	SentW  int64 `json:"sent_w"` // whispers to a member stable for the second
	RecvW  int64 `json:"recv_w"`
}

func (b *mixBucket) add(o *mixBucket) {
	b.Sent += o.Sent
	b.Acked += o.Acked
	b.Stable += o.Stable
	b.Recv += o.Recv
	b.SentW += o.SentW
	b.RecvW += o.RecvW
}

// learnedName is a talker's chat name, learned from its broadcasts, with
// the send time of the first broadcast it was seen on and when that
// connection of the slot closes (a later broadcast is from a new one).
type learnedName struct {
	name    []byte
	sent    int64
	closeAt int64
}

// learn records slot's name from a broadcast sent at sent.
func (p *pilot) learn(slot int, name []byte, sent int64) {
	if slot < 0 || slot >= len(p.names) || len(name) == 0 {
		return
	}
	old := p.names[slot].Load()
	if old != nil && sent < old.closeAt && sent >= old.sent {
		return // the same connection: the common case, one load
	}
	ln := &learnedName{name: append([]byte(nil), name...), sent: sent, closeAt: p.sched.closesAt(slot, sent)}
	if p.names[slot].CompareAndSwap(old, ln) && old == nil {
		p.namedMu.Lock()
		p.named = append(p.named, slot)
		p.namedMu.Unlock()
	}
}

// pickName returns a whisper target for a message of self's sent at t (in
// second b): a named member whose name is from its current connection,
// which joined before b began and stays till b's deliveries are in, so
// that its receipt is counted as surely as the whisper is expected.
func (p *pilot) pickName(l *loop, self int, t int64, b int64) (int, []byte) {
	p.namedMu.Lock()
	n := len(p.named)
	p.namedMu.Unlock()
	if n == 0 {
		return 0, nil
	}
	bStart := p.sched.bucketStart(b)
	for range 4 {
		p.namedMu.Lock()
		slot := p.named[l.rng.IntN(len(p.named))]
		p.namedMu.Unlock()
		ln := p.names[slot].Load()
		if slot == self || ln == nil || ln.sent >= bStart || t >= ln.closeAt {
			continue
		}
		if p.sched.openedAt(slot, t) > ln.sent || p.sched.closesAt(slot, t) < bStart+int64(time.Second)+int64(p.w.cfg.Drain) {
			continue
		}
		return slot, ln.name
	}
	return 0, nil
}

// runLoad is the load phase of a staged run in a worker: the pilot follows
// the stages, the drain follows, and the result goes to the coordinator
// with done, or with the error that aborted the run.
func (p *pilot) runLoad(ctx context.Context, ctl <-chan ctlMsg, send func(workerMsg)) {
	pctx, cancel := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		p.run(pctx)
	}()
	p.w.waitLoad(ctl)
	cancel()
	<-ran
	w := p.w
	w.failMu.Lock()
	abortErr := w.abortErr
	w.failMu.Unlock()
	if abortErr != nil {
		send(workerMsg{Op: opError, Err: abortErr, Result: w.result()})
	} else {
		send(workerMsg{Op: opDone, Result: w.result()})
	}
	waitClose(ctl)
}
