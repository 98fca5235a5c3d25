// Package hub is the chat node: rooms, members and names, with broadcasts
// encoded once into pooled buffers shared by all recipients.
//
// Usage:
//
//	srv := engine.New(engine.Config{})
//	h := hub.New(srv, hub.Config{Rate: 5, Burst: 10}) // registers /echo and /chat
//	for _, p := range web.Paths() {                   // the browser page (hub/web)
//		srv.HandleHTTP(p, web.Handler())
//	}
//	err := srv.Run()
//
// # Protocol
//
// /chat speaks plain text by default: the chat of Ktor's WebSockets
// tutorial, plus commands. Every message is one text frame; server lines
// are told apart by their start, which no user can forge ("[name]" and
// "* name" carry the sender's real name, names are [A-Za-z0-9_-]):
//
//	server -> newcomer: You are connected! There are N users here.   (N: users on the node, or the cluster, newcomer included)
//	client -> server:   TEXT                  say TEXT to your room (everyone starts in "lobby")
//	server -> room:     [alice]: TEXT         sender included
//	client -> server:   /me waves             server -> room: * alice waves
//	client -> server:   /nick bob             server -> room: *** alice is now known as bob
//	client -> server:   /w carol hi           server -> carol and sender: [bob -> carol]: hi
//	client -> server:   /join games           server -> lobby: *** bob left lobby
//	                                          server -> games: *** bob joined games (new room)
//	client -> server:   /leave                back to the lobby, with the same notices
//	client -> server:   /users                server -> sender: *** 2 in games: bob, dave
//	client -> server:   /history 2            server -> sender: *** history of games:
//	                                                            [dave]: hi
//	                                                            * bob waves
//	                                                            *** end of history
//	client -> server:   /help                 server -> sender: the command list
//	client -> server:   //TEXT                say "/TEXT"
//	server -> sender:   error: name "bob" is taken
//
// Connecting to /chat?name=alice asks for a name; an invalid or taken one
// is refused with an error line ("...; you are user7") and a generated
// name is used. /chat?room=games starts in that room instead of the lobby
// (an invalid name is refused with an error line, and the lobby is used). Names are unique on the node regardless of case; room
// names are case-insensitive (kept lower-case). Connects and disconnects
// are not announced to text clients, as in the tutorial.
//
// A client offering the subprotocol "chat.v1+json" (ProtocolJSON) gets
// JSON events instead of lines, one object per frame:
//
//	{"type":"welcome","room":"lobby","name":"alice","text":"You are connected! There are 2 users here.","members":["alice","bob"],"count":2,"users":2,"seq":7}
//	{"type":"message","room":"lobby","from":"bob","text":"<b>hi</b>","ts":1718000000000,"offset":41,"epoch":"9f2c41d0-1"}
//	{"type":"me","room":"lobby","from":"bob","text":"waves","ts":1718000000000,"offset":42,"epoch":"9f2c41d0-1"}
//	{"type":"history","room":"lobby","epoch":"9f2c41d0-1","messages":[{"type":"message",...},...],"reset":true}
//	{"type":"whisper","from":"bob","to":"alice","text":"psst","ts":1718000000000}
//	{"type":"presence","event":"joined","room":"games","name":"bob","members":["bob"],"count":1,"seq":9,"created":true,"ts":1718000000000}
//	{"type":"presence","event":"renamed","room":"lobby","name":"bobby","old":"bob","members":["alice","bobby"],"count":2,"seq":10,"ts":1718000000000}
//	{"type":"users","room":"lobby","members":["alice","bobby"],"count":2,"seq":10}
//	{"type":"error","code":"name_taken","text":"name \"bob\" is taken"}
//	{"type":"error","code":"name_unavailable","text":"name \"bob\" is unavailable: name service busy, try again"}
//	{"type":"help","text":"commands: ..."}
//	{"type":"notice","room":"lobby","text":"maintenance at 22:00","ts":1718000000000,"offset":43,"epoch":"9f2c41d0-1"}   (the application's: Control.Publish)
//	{"type":"deleted","room":"lobby","offset":42,"epoch":"9f2c41d0-1"}                                                (Control.Delete)
//	{"type":"error","code":"muted","text":"you are muted for 42 s"}
//
// JSON clients are also told of connects and disconnects (presence
// "joined"/"left" without a move). The room's member list ("members",
// sorted, and "count") rides along with welcome, users and (to JSON
// clients) presence events; apply it only if its "seq" is above the last
// one applied, since events sent from different event loops may arrive
// out of order. Rooms over MaxRoster (256) members send the count only
// ("/users" says "too many to list") and do not announce connects and
// disconnects. JSON clients send
//
//	{"type":"message","text":"hi"}        (the text is said verbatim, even if it starts with '/')
//	{"type":"me","text":"waves"}
//	{"type":"nick","name":"bob"}
//	{"type":"whisper","to":"alice","text":"psst"}
//	{"type":"join","room":"games"}
//	{"type":"join","room":"games","since":41,"epoch":"9f2c41d0-1"}   (resume)
//	{"type":"leave"}  {"type":"users"}  {"type":"help"}
//
// or plain-text lines (anything not starting with '{'), commands included.
// A JSON command is checked before anything happens: one without a field
// it needs (text for message and me, to and text for whisper, name for
// nick, room for join, token for refresh), or with a string field given
// another type (null included; since may be a number), is refused, and
// nothing is said, stored or numbered:
//
//	{"type":"error","code":"bad_request","text":"\"text\" is missing; send {\"type\":\"message\",\"text\":\"...\"}"}
//
// An empty string is a value: {"type":"message","text":""} says an empty
// line, as an empty text frame does.
//
// # History
//
// With Config.History set, each room keeps its last messages and /me
// actions (not notices, not whispers) in a History (MemoryHistory on a
// single node), and JSON message and me events carry "offset" (1, 2, 3,
// ... per room, no gaps) and "epoch" (names the room's history; it changes
// only when the history is lost, e.g. by a restart). A JSON client gets a
// history event right after its welcome and after every successful join:
// the room's recent messages, the same objects as live ones, oldest
// first, and the live messages continue exactly after it. Connecting with
// /chat?room=games&since=41&epoch=E, or joining with since and epoch,
// resumes: the history event carries the messages after offset 41; if E
// is not the room's epoch or 42 is no longer kept, it carries the newest
// messages and "reset":true. A history event never takes more than a
// quarter of the engine's MaxOutboundBytes: the oldest that do not fit are
// left out, and it says "truncated":true. A room, and one connection's
// messages in all rooms, hold at most Config.HistoryRoomMaxBytes of the
// node's history. The boundary is exact because the order of a
// room is decided in one place: under the room's order lock a message is
// given its offset, stored and posted to every loop, and an entering
// member's history is read and its move into the room's delivery list
// posted (see recall.go). Text clients get no history pushed; /history [n]
// shows it. In a cluster with a Sequencer (hub/cluster's JetStream
// history), offsets and epochs are the cluster's: messages come back
// stored to every node (ReceiveStored), which keeps a MemoryHistory
// mirror, so a client resumes on any node and history survives restarts.
//
// Limits: chat text over Config.MaxLine is refused with an error
// ("too_long"); messages over Config.Rate get "rate_limited" errors, and
// Config.MaxStrikes of them in a row close the connection with 1008.
// The engine closes messages over its MaxMessageSize with 1009 and
// invalid UTF-8 with 1007. Text is passed verbatim: HTML is not escaped
// (it is text; the web page renders it as text).
//
// # Authentication
//
// With Config.Auth (hub/auth) in Optional or Required mode, /chat and
// /echo verify the JWT of every upgrade (?token= or Authorization: Bearer)
// in the engine's upgrade hook; a missing (Required) or bad token is
// refused with 401, and so is one without exp (unless the Verifier's
// AllowNoExp) or valid for longer than its MaxTTL. An authenticated user's name is the token's name
// claim (else sub), reserved: ?name= and /nick cannot take it (also while
// its user is offline: see reserve.go), a holder that does not own it
// (anonymous, or another token holder by /nick) is renamed when its owner
// connects, and connections with the same sub share it (tabs). Events of
// token holders say "verified":true. /nick needs "nick":true; the rooms
// claim limits /join (error code "forbidden"; the lobby is always open).
// At exp (plus leeway) the timer sweep closes the connection, /echo too,
// with 1008 "token expired" unless the client sent a fresh token for the
// same sub first (its rooms claim applies at once):
//
//	client -> server:   /refresh TOKEN        or {"type":"refresh","token":"TOKEN"}
//	server -> sender:   *** token refreshed; it expires at 2026-01-02T04:04:05Z
//	                    {"type":"refreshed","text":"token refreshed; ..."}
//	server -> sender:   error: refresh refused: auth: token expired   (code "invalid_token")
//
// # Cluster
//
// With Config.Cluster (hub/cluster implements it over NATS) several nodes
// are one chat: every room event is also handed to the cluster (Cluster.Publish,
// in a compact wire form, see wire.go) and the other nodes' events arrive
// through Hub.Receive, which encodes them once per format and fans them out
// like a local broadcast. Names are claimed cluster-wide off the loop (see
// claim.go): a connecting member is greeted, and a /nick applied, once the
// cluster answered. A claim the cluster's registry could not answer in
// time (it is up but overloaded) is refused with "name_unavailable"
// rather than granted twice: a connecting user gets a generated name (an
// authenticated one, whose token's name is its only one, is closed with
// 1013), a /nick is not applied; either may try again. Counts, rosters
// and whisper look-ups add the cluster's view of the other nodes. A
// whisper whose target may have connections on other nodes (a user of
// another node, or an authenticated user, whose tabs share its name on
// every node) goes to every other node (Cluster.SendAll), and each
// delivers it to its own connections of the name: every tab gets it once,
// in the sender's order. Messages from other nodes go to a loop only
// while fewer than Config.ClusterBacklog tasks wait for it; past that they
// are dropped there and counted by the cluster. Without a cluster none of
// this runs.
//
// # The application's backend
//
// Control (Hub.Control on a single node, hub/cluster's in a cluster; hub/api
// serves it over HTTP) is what the application's backend may do: publish a
// notice into rooms ("*** TEXT", {"type":"notice",...}, kept in the history
// with an empty sender), disconnect, mute and ban a name, a user (a token's
// sub) or an address, delete a message from a room's history
// ({"type":"deleted","room":...,"offset":...} to JSON members), and read
// presence, rooms, history and the nodes. Calls post to the loops (onLoops)
// and answer once they acted. Bans and mutes are one immutable state read
// with an atomic load (moderation.go): mutes where messages are said (no
// lock, no allocation), bans in the upgrade hook (403) and /nick. With
// BackendConfig.Events the node hands an EventSink one JSON object per
// message, me, whisper (opt-in), join, leave, nick, connect and disconnect
// (events.go), encoded once, made by the node where it happened.
//
// # Sharding
//
// Delivery lists are sharded by event loop: each loop keeps the members it
// owns, per room and per format (text or JSON), and only that loop touches
// them, so delivering a message takes no lock. A broadcast encodes its
// frame once per format that the room's members read (two atomic
// counters per room tell which), posts one task per loop, and each loop
// writes the shared bytes to its members. The name and room registries
// (uniqueness, whisper lookups, member lists) are split into
// Config.Shards shards by name hash, each with its own lock, touched on
// connects, commands and disconnects, never on the message path.
//
// # Compression
//
// With the server's Compression on, a broadcast frame of at least the
// CompressionThreshold gets a compressed twin, built once per format (with
// a pooled deflater, never one per connection) as long as some open
// connection negotiated permessage-deflate; each loop then writes every
// member the twin or the plain frame, whichever its connection takes
// (engine.Conn.DeflateWindow). Replies and whispers are compressed for
// their one recipient. Stats.Compressed counts the compressions.
package hub
