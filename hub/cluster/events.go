package cluster

import "edgews/hub"

// Events on NATS (hub.EventSink): the node's events for the application's
// backend, one core NATS message each, on
//
//	NAME.events.KIND.ROOM   KIND: message, me, whisper, join, leave, nick, connect, disconnect
//	                        ROOM: the event's room; "_" for a whisper
//
// so a backend consumes them with any NATS client (NAME.events.>), or
// through a JetStream stream it creates on those subjects for
// at-least-once delivery. Like the chat's messages they go through the
// publisher goroutine's bounded queue: an event that does not fit is
// dropped and counted (Stats.PubDropped), never waited for.

var _ hub.EventSink = (*Node)(nil)

// Event implements hub.EventSink.
func (n *Node) Event(kind, room string, obj []byte) {
	j := jobPool.Get().(*pubJob)
	j.target, j.event, j.buf = room, kind, append(j.buf[:0], obj...)
	n.push(j)
}

// eventSubject is j's subject, from the publisher's cache (kind and room
// -> subject: publishing allocates nothing once a room has been seen).
func eventSubject(cache map[[2]string]string, name string, j *pubJob) string {
	k := [2]string{j.event, j.target}
	if s, ok := cache[k]; ok {
		return s
	}
	if len(cache) >= maxSubjects {
		clear(cache)
	}
	room := j.target
	if room == "" {
		room = "_"
	}
	s := name + ".events." + j.event + "." + room
	cache[k] = s
	return s
}
