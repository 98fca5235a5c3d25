// Command nbio is the lesismal/nbio peer server (event-loop mode).
//
//	nbio --addr 127.0.0.1:8080
//
// It serves /echo and /chat and prints "listening on ADDR pid PID" when ready.
package main

import (
	"flag"
	"net"
	"os"

	"github.com/lesismal/nbio/logging"

	"edgews/bench/peers/internal/cli"
	"edgews/bench/peers/internal/nbiopeer"
)

func main() {
	addr := flag.String("addr", cli.DefaultAddr, "listen address (host:port)")
	// nbio logs to stdout at info level by default; keep stdout for the
	// ready line only and send nbio's own lines to stderr.
	logging.Output = os.Stderr
	compression := flag.Bool("compression", false, "negotiate permessage-deflate (Upgrader.EnableCompression)")
	cli.Main("nbio", addr, func(ln net.Listener) (func(), error) {
		return nbiopeer.ServeWith(ln, nbiopeer.Options{Compression: *compression})
	})
}
