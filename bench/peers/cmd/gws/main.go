// Command gws is the lxzan/gws peer server.
//
//	gws --addr 127.0.0.1:8080 [--parallel]
//
// It serves /echo and /chat and prints "listening on ADDR pid PID" when ready.
package main

import (
	"flag"
	"net"

	"edgews/bench/peers/internal/cli"
	"edgews/bench/peers/internal/gwspeer"
)

func main() {
	addr := flag.String("addr", cli.DefaultAddr, "listen address (host:port)")
	parallel := flag.Bool("parallel", false,
		"gws ParallelEnabled: handle one connection's messages concurrently (replies may be reordered)")
	compression := flag.Bool("compression", false, "negotiate permessage-deflate (PermessageDeflate{Enabled: true})")
	cli.Main("gws", addr, func(ln net.Listener) (func(), error) {
		return gwspeer.Serve(ln, gwspeer.Options{Parallel: *parallel, Compression: *compression})
	})
}
