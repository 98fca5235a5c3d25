package cluster

import (
	"context"
	"sync"

	"edgews/hub"

	"github.com/nats-io/nats.go"
)

// pubJob is one message waiting for the publisher goroutine. Jobs and
// their buffers are pooled: queueing a message allocates nothing.
type pubJob struct {
	target string // room or node (everyNode: all of them)
	node   bool   // target is a node (a reservation) or everyNode (a whisper)
	event  string // an event's kind, to NAME.events.KIND.ROOM (events.go); "" for a chat message
	buf    []byte
}

// everyNode is the target of SendAll: no node id is empty.
const everyNode = ""

var jobPool = sync.Pool{New: func() any { return &pubJob{buf: make([]byte, 0, 256)} }}

// maxSubjects bounds the publisher's cache of subject strings.
const maxSubjects = 4096

// Publish implements hub.Cluster. It copies msg into the queue; it never
// waits (a full queue is counted in Stats.PubDropped).
func (n *Node) Publish(room string, msg []byte) { n.enqueue(room, false, msg) }

// SendTo implements hub.Cluster.
func (n *Node) SendTo(node string, msg []byte) { n.enqueue(node, true, msg) }

// SendAll implements hub.Cluster: msg goes to NAME.all, which every node
// subscribes to (NoEcho keeps it from this one).
func (n *Node) SendAll(msg []byte) { n.enqueue(everyNode, true, msg) }

func (n *Node) enqueue(target string, node bool, msg []byte) {
	j := jobPool.Get().(*pubJob)
	j.target, j.node, j.buf = target, node, append(j.buf[:0], msg...)
	n.push(j)
}

// push queues j for the publisher, or drops it (counted) if the queue is
// full.
func (n *Node) push(j *pubJob) {
	select {
	case n.pub <- j:
	default:
		n.stats.PubDropped.Add(1)
		putJob(j)
	}
}

func putJob(j *pubJob) {
	if cap(j.buf) > 64<<10 {
		j.buf = make([]byte, 0, 256) // a big message's buffer is not kept
	}
	j.target, j.event = "", ""
	jobPool.Put(j)
}

// Subscribe implements hub.Cluster: the publisher goroutine subscribes.
func (n *Node) Subscribe(room string) { n.setWant(room, true) }

// Unsubscribe implements hub.Cluster.
func (n *Node) Unsubscribe(room string) { n.setWant(room, false) }

// WhenSubscribed implements hub.Cluster: true if the server has
// confirmed the subscription to room and no change to it is pending;
// else ready runs on the publisher goroutine once the change is
// reconciled: after the server's answer, or at once while NATS is away
// (nats.go sends the SUBs on reconnect): an outage never holds a welcome
// back.
func (n *Node) WhenSubscribed(room string, ready hub.Waiter) bool {
	n.subMu.Lock()
	if n.settled(room) {
		n.subMu.Unlock()
		return true
	}
	n.waiters[room] = append(n.waiters[room], ready)
	n.subMu.Unlock()
	n.kickSubs()
	return false
}

// settled reports whether the server has confirmed the subscription to
// room and no change to it is pending. subMu held.
func (n *Node) settled(room string) bool {
	_, pending := n.want[room]
	_, inflight := n.inflight[room]
	return n.subscribed[room] && !pending && !inflight
}

func (n *Node) kickSubs() {
	select {
	case n.subKick <- struct{}{}:
	default:
	}
}

func (n *Node) setWant(room string, on bool) {
	n.subMu.Lock()
	if on && n.settled(room) {
		n.subMu.Unlock()
		return // subscribed, and nothing else asked: nothing to do
	}
	n.want[room] = on
	n.subMu.Unlock()
	n.kickSubs()
}

// publisher publishes the queued messages in queue order (so each loop's,
// hence each sender's, order is kept) and keeps the room subscriptions in
// line with Subscribe and Unsubscribe. nats.go's Publish may write to the
// socket when its buffer fills: that wait happens here, never on a loop.
func (n *Node) publisher() {
	roomSubj := make(map[string]string) // room -> subject, so that publishing allocates nothing
	nodeSubj := make(map[string]string)
	subs := make(map[string]*nats.Subscription)
	events := make(map[[2]string]string)
	subject := func(j *pubJob) string {
		if j.event != "" {
			return eventSubject(events, n.cfg.Name, j)
		}
		if j.node && j.target == everyNode {
			return n.allSubject
		}
		m, prefix := roomSubj, n.roomPrefix
		if j.node {
			m, prefix = nodeSubj, n.nodePrefix
		}
		if s, ok := m[j.target]; ok {
			return s
		}
		if len(m) >= maxSubjects {
			clear(m)
		}
		s := prefix + j.target
		m[j.target] = s
		return s
	}
	for {
		select {
		case j := <-n.pub:
			if err := n.nc.Publish(subject(j), j.buf); err != nil {
				n.stats.PubDropped.Add(1)
			} else {
				n.stats.MsgsOut.Add(1)
			}
			putJob(j)
		case <-n.subKick:
			n.reconcile(subs)
		case <-n.stop:
			for {
				select {
				case j := <-n.pub:
					if n.nc.Publish(subject(j), j.buf) == nil {
						n.stats.MsgsOut.Add(1)
					}
					putJob(j)
				default:
					return
				}
			}
		}
	}
}

// reconcile subscribes to the rooms wanted and unsubscribes from the
// others. Publisher goroutine only.
func (n *Node) reconcile(subs map[string]*nats.Subscription) {
	n.subMu.Lock()
	want := n.want
	n.want = make(map[string]bool, len(want))
	n.inflight = want
	n.subMu.Unlock()
	for room, on := range want {
		switch sub := subs[room]; {
		case on && sub == nil:
			s, err := n.nc.ChanSubscribe(n.roomPrefix+room, n.arrivals)
			if err != nil {
				n.log.Warn("cluster: subscribe", "room", room, "err", err)
				continue
			}
			subs[room] = s
		case !on && sub != nil:
			_ = sub.Unsubscribe()
			delete(subs, room)
		}
	}
	// The server has the interest once it has answered a ping after the
	// SUBs; while disconnected, nats.go sends them on reconnect, and no
	// ping is waited for (WhenSubscribed never waits out an outage).
	if n.nc.IsConnected() {
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.OpTimeout)
		_ = n.nc.FlushWithContext(ctx)
		cancel()
	}
	n.subMu.Lock()
	for room := range want {
		if subs[room] != nil {
			n.subscribed[room] = true
		} else {
			delete(n.subscribed, room)
		}
	}
	n.inflight = nil
	// The waiters of rooms with no change pending now are answered; the
	// others wait for the reconcile that their change has kicked.
	var ready []hub.Waiter
	for room, ws := range n.waiters {
		if _, pending := n.want[room]; !pending {
			ready = append(ready, ws...)
			delete(n.waiters, room)
		}
	}
	n.subMu.Unlock()
	for _, w := range ready {
		w.Subscribed()
	}
}

// receiver hands the other nodes' messages to the hub, one at a time, in
// arrival order. The hub never waits for its loops: where one is behind,
// the message is dropped there (Receive says so) and counted here, as
// NATS's slow-consumer drops are when this goroutine falls behind.
func (n *Node) receiver() {
	for {
		select {
		case m := <-n.arrivals:
			n.stats.MsgsIn.Add(1)
			if !n.recv.Receive(m.Data) {
				n.stats.InDropped.Add(1)
			}
		case <-n.stop:
			return
		}
	}
}
