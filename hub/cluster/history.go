package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"edgews/hub"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// History headers: what a stored message carries beside its text.
const (
	hdrOffset = "Edgews-Offset" // the message's offset in its room: 1, 2, 3, ...
	hdrEpoch  = "Edgews-Epoch"  // the room's epoch
	hdrFrom   = "Edgews-From"   // the sender's name
	hdrMe     = "Edgews-Me"     // "1" for a /me action
	hdrVer    = "Edgews-Ver"    // "1" if said by a token holder ("verified")
	hdrTS     = "Edgews-Ts"     // when it was said, milliseconds since the Unix epoch
)

// casRetries bounds the attempts to store one message when other nodes
// keep storing messages in the same room first (each attempt reads the
// room's last message again: a busy room across nodes needs a few).
const casRetries = 64

// HistoryConfig configures a History.
type HistoryConfig struct {
	// PerRoom is how many messages the stream keeps per room (its
	// MaxMsgsPerSubject). Must be positive.
	PerRoom int
	// TTL is the stream's MaxAge. If zero, hub.DefaultHistoryTTL.
	TTL time.Duration
	// MaxBytes bounds the stream's size (the oldest messages go first). If
	// zero, hub.DefaultHistoryMaxBytes.
	MaxBytes int64
}

// HistoryStats are the shared history's counters.
type HistoryStats struct {
	Stored    atomic.Int64 // messages this node stored in the stream
	Conflicts atomic.Int64 // stores retried because another node stored first in the room
	Dropped   atomic.Int64 // messages not stored: queue full, NATS unavailable, or too many conflicts
	Received  atomic.Int64 // stored messages delivered to the hub (every node's)
	// ConsumerRetries counts failed attempts to create the stream's
	// consumer: while there is none, nothing stored is delivered (this
	// node's own messages included). See History.Consuming.
	ConsumerRetries atomic.Int64
}

// History is the cluster's shared room history: it implements
// hub.Sequencer with one JetStream stream (NAME_history), one subject per
// room (NAME.hist.ROOM) keeping the room's last PerRoom messages.
//
// Offsets are consecutive per room on every node because a message is
// stored only if the room's last stored message is still the one this
// node knows (Nats-Expected-Last-Subject-Sequence): its offset is that
// message's plus one, its epoch the same. When another node stored first,
// the store fails, this node reads the room's last message again and
// retries. A room without stored messages (new, or expired) starts a new
// epoch at offset 1. Each node consumes the whole stream in order (an
// ordered consumer, from the start: a restarted node rebuilds its mirror
// from it) and hands every message to the hub, its own included.
//
// Storing waits for the stream's acknowledgement, on the history's own
// goroutine, one message at a time: a node stores some thousands of
// messages a second, and delivery (for the sender too) follows the
// round trip to NATS.
type History struct {
	n      *Node
	cfg    HistoryConfig
	stream jetstream.Stream
	prefix string // "NAME.hist."
	recv   hub.StoredReceiver
	stats  HistoryStats

	in        chan *histJob
	consuming atomic.Bool // the stream's consumer exists and delivers
}

// histJob is a message waiting to be stored, or a deletion's tombstone
// (deleted set: see history_delete.go).
type histJob struct {
	room, from string
	text       []byte
	flags      hub.MessageFlags
	ts         int64
	deleted    *tombstone
}

// roomTail is what the storing goroutine knows of a room's last stored
// message.
type roomTail struct {
	seq    uint64 // its stream sequence; 0: the room has none
	offset uint64
	epoch  string
}

var _ hub.Sequencer = (*History)(nil)

// NewHistory creates (or updates) the history stream and returns the
// shared history, to pass to hub.Config.Sequencer. NATS must be
// reachable.
func (n *Node) NewHistory(ctx context.Context, cfg HistoryConfig) (*History, error) {
	if cfg.PerRoom <= 0 {
		return nil, errors.New("cluster: history: PerRoom must be positive")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = hub.DefaultHistoryTTL
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = hub.DefaultHistoryMaxBytes
	}
	hs := &History{n: n, cfg: cfg, prefix: n.cfg.Name + ".hist.", in: make(chan *histJob, n.cfg.QueueLen)}
	var err error
	hs.stream, err = n.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              n.cfg.Name + "_history",
		Subjects:          []string{hs.prefix + "*"},
		MaxMsgsPerSubject: int64(cfg.PerRoom),
		MaxAge:            cfg.TTL,
		MaxBytes:          cfg.MaxBytes,
		Discard:           jetstream.DiscardOld,
		Storage:           jetstream.FileStorage,
		Replicas:          n.cfg.Replicas, // as the buckets: 0 is 1
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: history stream: %w", err)
	}
	return hs, nil
}

// Stats returns the history's live counters.
func (hs *History) Stats() *HistoryStats { return &hs.stats }

// Attach implements hub.Sequencer: it starts consuming the stream (from
// its start) and storing.
func (hs *History) Attach(r hub.StoredReceiver) {
	hs.recv = r
	hs.n.goRun(hs.consume)
	hs.n.goRun(hs.store)
}

// Consuming reports whether the stream's consumer exists: while false,
// messages are stored but none is delivered, and the node's health check
// says so (cmd/wsnode's /healthz).
func (hs *History) Consuming() bool { return hs.consuming.Load() }

// Consumer retry pauses: the first, doubled up to the last.
const (
	consumerRetry    = 250 * time.Millisecond
	consumerRetryMax = 5 * time.Second
)

// consume creates the stream's ordered consumer, retrying until it exists
// (a JetStream that does not answer at attach, or later), then delivers
// until Close. Once created, nats.go recreates it by itself after a loss
// (missed heartbeats, a JetStream restart), from the last message seen.
func (hs *History) consume() {
	pause := consumerRetry
	var cc jetstream.ConsumeContext
	for cc == nil {
		ctx, cancel := context.WithTimeout(hs.n.ctx, hs.n.cfg.OpTimeout)
		cons, err := hs.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{hs.prefix + "*"},
			DeliverPolicy:  jetstream.DeliverAllPolicy,
		})
		cancel()
		if err == nil {
			cc, err = cons.Consume(hs.deliver)
		}
		if err != nil {
			if hs.stats.ConsumerRetries.Add(1) == 1 {
				hs.n.log.Error("cluster: history consumer unavailable; stored messages are not delivered until it exists; retrying", "err", err)
			}
			t := time.NewTimer(pause)
			select {
			case <-t.C:
			case <-hs.n.stop:
				t.Stop()
				return
			}
			pause = min(2*pause, consumerRetryMax)
		}
	}
	if hs.stats.ConsumerRetries.Load() > 0 {
		hs.n.log.Info("cluster: history consumer created", "attempts", hs.stats.ConsumerRetries.Load()+1)
	}
	hs.consuming.Store(true)
	<-hs.n.stop
	hs.consuming.Store(false)
	cc.Stop()
	<-cc.Closed()
}

// Sequence implements hub.Sequencer: it queues the message for the
// storing goroutine (a full queue drops it, counted).
func (hs *History) Sequence(room string, flags hub.MessageFlags, from string, text []byte, ts int64) {
	j := &histJob{room: room, from: from, text: append([]byte(nil), text...), flags: flags, ts: ts}
	select {
	case hs.in <- j:
	default:
		hs.stats.Dropped.Add(1)
	}
}

// deliver hands a stored message to the hub (the consumer's goroutine,
// in stream order, hence in each room's offset order).
func (hs *History) deliver(msg jetstream.Msg) {
	h := msg.Headers()
	off, err := strconv.ParseUint(h.Get(hdrOffset), 10, 64)
	ts, err2 := strconv.ParseInt(h.Get(hdrTS), 10, 64)
	room := msg.Subject()[len(hs.prefix):]
	if err != nil || err2 != nil || off == 0 || room == "" {
		return // not one of ours
	}
	if hs.tombstone(room, h) {
		return
	}
	hs.stats.Received.Add(1)
	var flags hub.MessageFlags
	if h.Get(hdrMe) == "1" {
		flags |= hub.MessageMe
	}
	if h.Get(hdrVer) == "1" {
		flags |= hub.MessageVerified
	}
	if !hs.recv.ReceiveStored(room, off, h.Get(hdrEpoch), flags, []byte(h.Get(hdrFrom)), msg.Data(), ts) {
		hs.n.stats.InDropped.Add(1) // a loop behind: in the mirror, not delivered live there
	}
}

// store stores the queued messages one at a time, until Close.
func (hs *History) store() {
	tails := make(map[string]*roomTail)
	for {
		select {
		case j := <-hs.in:
			hs.storeOne(tails, j)
			j.deleted.failed() // if it was not stored
		case <-hs.n.stop:
			return
		}
	}
}

// storeOne stores j after the last message of its room (compare and set
// on the subject's last sequence), reading the room's tail again when
// another node stored first.
func (hs *History) storeOne(tails map[string]*roomTail, j *histJob) {
	subject := hs.prefix + j.room
	tail := tails[j.room]
	for attempt := 0; attempt < casRetries; attempt++ {
		if tail == nil {
			var err error
			if tail, err = hs.lastOf(subject); err != nil {
				hs.stats.Dropped.Add(1)
				return
			}
			if len(tails) >= maxSubjects {
				clear(tails)
			}
			tails[j.room] = tail
		}
		m := nats.NewMsg(subject)
		m.Data = j.text
		next := tail.offset + 1
		if j.deleted != nil {
			next = tail.offset // a tombstone keeps the room's last offset
			j.deleted.header(m)
		}
		m.Header.Set(hdrOffset, strconv.FormatUint(next, 10))
		m.Header.Set(hdrEpoch, tail.epoch)
		m.Header.Set(hdrFrom, j.from)
		m.Header.Set(hdrTS, strconv.FormatInt(j.ts, 10))
		if j.flags&hub.MessageMe != 0 {
			m.Header.Set(hdrMe, "1")
		}
		if j.flags&hub.MessageVerified != 0 {
			m.Header.Set(hdrVer, "1")
		}
		ctx, cancel := context.WithTimeout(hs.n.ctx, hs.n.cfg.OpTimeout)
		ack, err := hs.n.js.PublishMsg(ctx, m, jetstream.WithExpectLastSequencePerSubject(tail.seq))
		cancel()
		if err == nil {
			tail.seq, tail.offset = ack.Sequence, next
			hs.stored(j, tail)
			return
		}
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) || (apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence && apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
			delete(tails, j.room) // read it again next time
			hs.stats.Dropped.Add(1)
			return
		}
		hs.stats.Conflicts.Add(1)
		tail = nil // another node stored first, or the room expired
		delete(tails, j.room)
	}
	hs.stats.Dropped.Add(1)
}

// lastOf reads the last stored message of subject: the room's tail, or a
// new epoch if it has none.
func (hs *History) lastOf(subject string) (*roomTail, error) {
	ctx, cancel := context.WithTimeout(hs.n.ctx, hs.n.cfg.OpTimeout)
	defer cancel()
	msg, err := hs.stream.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return &roomTail{epoch: newEpoch()}, nil
	}
	if err != nil {
		return nil, err
	}
	off, err := strconv.ParseUint(msg.Header.Get(hdrOffset), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("cluster: history: message %d has no offset", msg.Sequence)
	}
	return &roomTail{seq: msg.Sequence, offset: off, epoch: msg.Header.Get(hdrEpoch)}, nil
}

// newEpoch names a room's new history: random, so that it differs from
// every epoch the room had before.
func newEpoch() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
