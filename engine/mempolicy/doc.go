// Package mempolicy sets the Go runtime's memory policy for a long-lived
// server holding many idle connections, and returns the memory a wave of
// connections freed to the operating system.
//
// An idle node's heap is almost all connection state, live for as long as
// the connections, and its message paths allocate nothing; garbage comes
// from connection churn (handshakes). Two runtime knobs decide how much
// memory it holds beyond that live heap:
//
//   - the GC percent (GOGC): the heap may grow this much over the live heap
//     before the next collection. The runtime's default, 100, lets the heap
//     double; a lower one keeps less headroom and collects more often, which
//     costs CPU wherever garbage is made (handshakes, and gnet's pooled
//     output buffers, refilled after every collection).
//   - the memory limit (GOMEMLIMIT): a soft cap under which the collector
//     works harder instead of growing, so that a node in a container is not
//     killed for the headroom it keeps.
//
// Apply sets both, with defaults measured on this node (docs/deploy.md,
// Memory policy): the runtime's GC percent, and a limit only inside a
// container that has one. Returning memory: the runtime gives
// free pages back to the system only slowly and only above its heap goal,
// so after many connections close (or after a connect storm's handshakes
// turned into garbage) the process keeps them. A Releaser, one goroutine
// per process, watches the open-connection count and calls
// debug.FreeOSMemory once a wave is over.
//
// Usage:
//
//	applied := mempolicy.Apply(mempolicy.Config{GCPercent: gogc, MemoryLimit: limit})
//	rel := &mempolicy.Releaser{Open: srv.OpenConns}
//	go rel.Run(ctx) // until ctx is done
package mempolicy
