// Package cluster joins chat nodes into one chat over NATS: it implements
// hub.Cluster, and it is the only package of the node that imports nats.go.
//
//	cl, err := cluster.New(cluster.Config{URLs: "nats://127.0.0.1:4222", TTL: 15 * time.Second})
//	h := hub.New(srv, hub.Config{Cluster: cl}) // hub.New calls cl.Attach(h)
//	...
//	srv.Shutdown(ctx) // the users' names are released...
//	cl.Close(ctx)     // ...and written out before the node says goodbye
//
// # Messages
//
// Core NATS publish/subscribe, at most once. Room events go to the subject
// NAME.room.ROOM, which a node subscribes to only while the room has
// members on it, so the server forwards one message per broadcast to each
// interested node. Whispers go to NAME.all, which every node subscribes
// to: each delivers one to its own connections of the target, so every tab
// of an authenticated user gets it once, whichever node the registry says
// holds the name (a whisper to another node's user costs one message per
// other node, where a room event costs one per node with members of the
// room). A reservation (an authenticated user took a name another node's
// anonymous user holds) goes to NAME.node.NODE, that node. The
// connection is opened with NoEcho: a node serves its own members from its
// local fan-out and never gets its own messages back. The event loops
// never touch the connection: Publish copies the message into a bounded
// queue that one publisher goroutine drains (a full queue is a counted
// drop, never a wait), and one goroutine hands arrivals to the hub in
// arrival order; the hub posts them to its loops with engine's
// Loop.PostLimit, so a loop behind by hub.Config.ClusterBacklog tasks has
// them dropped, and counted here (Stats.InDropped) with NATS's
// slow-consumer drops. NATS keeps the order of one connection's messages
// to a subscriber, so each sender's order is kept.
//
// nats.go sends a SUB without waiting for the server; the publisher
// goroutine flushes after subscribing, and WhenSubscribed answers once
// that flush is back. The hub greets a connecting member only then: a
// broadcast of another node that reached NATS before this node's interest
// would be lost (no drop counter sees it: NATS had no subscriber). The
// arriving member holds the room meanwhile (the hub's holdRoom): the room's
// last member leaving then does not unsubscribe, so the subscription
// confirmed is still live at the welcome.
//
// # Names, counts and rosters
//
// On JetStream key-value, in two buckets:
//
//	NAME_names  key: lower-case user name   value: "NODE ROOM Name"   (no TTL)
//	NAME_nodes  key: NODE                   value: "alive"            (bucket TTL = 3/4 Config.TTL)
//
// A claim is an atomic create: one publish that expects the key to have no
// last sequence (create.go; KeyValue.Create for a freed name's delete
// marker), so of two nodes claiming one name at the same instant, exactly
// one wins. A claim that finds the name taken
// checks the owner's liveness key; if the owner is gone, the stale claim
// is replaced with a revision-checked Update (so again only one claimer
// wins). Every node refreshes its liveness key four times per TTL, on a
// goroutine of its own (nothing else it does can delay it), so the key of
// a node that died without a goodbye (kill -9) expires within 3/4 of the
// TTL; every node's janitor looks for such nodes sixteen times per TTL,
// drops their users from its counts and rosters and deletes their names
// (revision-checked): all within the TTL. The janitor reads the liveness
// key of each node it sees names of, and takes a node for gone only when
// the key is not found (an error or a timeout is never "gone"); it reads
// and deletes for at most half its period per round, the rest in the next
// rounds. Registry
// calls run on a few worker goroutines (one name always on the same
// worker, so its claim, updates and release keep their order) and answer
// through hub.Claimant, which the hub's claim task implements by posting
// itself to the member's loop. Their queue is bounded (Config.RegistryQueue,
// RegistryQueueBytes: past it a claim is refused busy at once), and a
// release cancels its name's claims and updates still queued (their
// connection is gone). A node keeps no copy of its own users' names: an
// update or a release reads the entry and writes or deletes it only if it
// is this node's (revision-checked); at every set-up of the registry
// (start, reconnection, JetStream back) its watch replays every name, and
// the node deletes its entries that no member holds (Receiver.Holds) and
// writes again what its hub holds (Receiver.Names). So --nats adds no
// long-lived memory to an idle connection, and releases made while the
// registry was away need none either. A name a member here holds that
// leaves the registry, or that another node writes (a janitor or a claim
// that took this node for gone, an authenticated user's other tab's node
// freeing it), is claimed again for this node (Receiver.Freed, Claim with
// no Claimant); one found another node's then, or after an outage, is
// renamed here, or for an authenticated user reserved (Receiver.Lost).
//
// Every node watches NAME_names and keeps the other nodes' users in
// memory: the count in the greeting, /users, member lists and whisper
// look-ups read that view, which lags the writes by the watch's delivery
// time (milliseconds; bounded by the janitor period for dead nodes).
//
// # History
//
// With Node.NewHistory passed as hub.Config.Sequencer, the rooms' history
// is the cluster's, on one JetStream stream:
//
//	NAME_history  subject NAME.hist.ROOM  headers Edgews-Offset, -Epoch, -From, -Me, -Ts; data: the text
//	              at most PerRoom messages per subject, MaxAge = TTL, MaxBytes, file storage
//
// A chat message is then not published on NAME.room.ROOM: the saying
// node stores it with a compare-and-set on the subject's last sequence
// (its offset is the last message's plus one, in the same epoch; a room
// with no message starts a new random epoch at 1; when another node
// stored first it reads the room's last message and retries), and every
// node, the sayer included, delivers it from an ordered consumer of the
// whole stream, in stream order, into its hub's history mirror and to its
// members. So offsets and epochs are the same on every node, a client
// resumes on any node, and a node that starts (or restarts) replays the
// stream into its mirror. Storing waits for the stream's acknowledgement
// on one goroutine per node; delivery follows that round trip. Every node
// of such a cluster must use it: a chat message reaching a node with the
// shared history over core NATS (from a node keeping its own) is dropped
// there (hub.Stats.HistoryUnshared), never mixed into its mirror, and
// cmd/wsnode waits for the stream at start, or refuses to start, rather
// than fall back to a history of its own.
//
// # Server API and events
//
// Node.Control is the cluster's hub.Control: a call on any node acts on
// every node. The calling node acts on its own hub, then publishes one
// request on NAME.api and gathers a reply from every other live node (the
// liveness keys), each of which runs it on its hub (api.go); a node cut
// off from NATS refuses cluster-wide calls (hub.ErrUnavailable). Bans and
// mutes are also written to JetStream key-value with their TTL
// (NAME_bans, NAME_mutes), which every node watches (moderation.go): a
// node that restarts enforces them. A delete from the shared history
// stores a tombstone in the room's subject (the room's offsets stay
// unique) and removes the message's data (history_delete.go). The node is
// also a hub.EventSink: events go to NAME.events.KIND.ROOM through the
// publisher's queue (events.go).
//
// # Faults
//
// The connection retries forever (also when NATS is unreachable at
// start); the node serves its local chat meanwhile and Healthy reports
// false. Claims made while the cluster is unavailable are granted locally
// and claimed cluster-wide again once it is back, as are the moves
// missed; the releases missed are the set-up's purge. A move, rename or
// release that fails while the node is up is retried four times per TTL
// (kept in bounded maps: past them the registry is set up again). A claim
// whose registry calls fail while the node is connected and set up
// (timeouts under load) is tried three times and then refused as busy
// (hub.ClaimBusy, Stats.ClaimsBusy): granting it could give one name to
// two users. Messages published while disconnected go to nats.go's
// reconnect buffer (Config.ReconnectBuf) and are sent on reconnect; past
// it they are dropped and counted. Messages in flight during an outage are
// lost (at most once), never delivered twice. The shared history's
// consumer is created again and again until it exists
// (History.Consuming). Close ends within CloseMargin of its context's
// deadline whatever NATS does, logging the names it could not release.
package cluster
