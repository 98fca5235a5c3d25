package nbiopeer

import "edgews/bench/peers/internal/conformance"

// nbio v1.6.7 (and v1.6.8) never calls OnMessage for a zero-length data
// message: Conn.Parse only builds the message when a frame has payload.
var quirks = conformance.Quirks{DropsEmptyMessages: true}
