//go:build poll_opt

package engine

// gnetPollOpt says gnet's poll_opt reactor is built in (the poll_opt tag),
// which calls each conn's poll attachment callback; see gnettrim.go.
const gnetPollOpt = true
