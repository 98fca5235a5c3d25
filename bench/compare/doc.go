// Package compare runs the node and its peers (gorilla/websocket, lxzan/gws,
// lesismal/nbio, and uWebSockets when bench/uws/build.sh has built it)
// through the same wsbench scenarios in one run and prints a markdown table
// with each figure and the ratio node/peer, and drives the scale run (many
// node processes on one port, many bench workers). A server may be listed
// with flags ("wsnode --loops 1") and every scenario repeated, the servers
// in turn, for medians.
//
// It measures from outside: every server is a separate process started on a
// free 127.0.0.1 port, every scenario is a wsbench process whose --json
// report (bench.Report) is read back. Servers run one at a time, so each has
// the machine's cores to itself, shared only with the bench client.
//
//	wsbench compare --bin bin                  # make bench-compare
//	wsbench scale --bin bin --conns 100000     # make bench-scale
package compare
