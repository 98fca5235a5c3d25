// Command gorilla is the gorilla/websocket peer server.
//
//	gorilla --addr 127.0.0.1:8080
//
// It serves /echo and /chat and prints "listening on ADDR pid PID" when ready.
package main

import (
	"flag"
	"net"

	"edgews/bench/peers/internal/cli"
	"edgews/bench/peers/internal/gorillapeer"
)

func main() {
	addr := flag.String("addr", cli.DefaultAddr, "listen address (host:port)")
	compression := flag.Bool("compression", false, "negotiate permessage-deflate (Upgrader.EnableCompression)")
	cli.Main("gorilla", addr, func(ln net.Listener) (func(), error) {
		return gorillapeer.ServeWith(ln, gorillapeer.Options{Compression: *compression})
	})
}
