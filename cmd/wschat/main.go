// Command wschat is a terminal client for the node's chat (/chat, plain
// text): it sends each line read from stdin as a message and prints each
// message that arrives, one per line.
//
//	wschat [-name NAME] [-linger 500ms] [-url URL | URL]      URL: default ws://127.0.0.1:8080/chat
//
// Lines starting with '/' are chat commands (/help lists them). Ctrl-C,
// or the end of stdin (after -linger, so that the answers to the last
// lines are printed), closes the connection with 1000 and exits 0; a
// connection lost (server gone, closed by the server, network error) is
// reported on stderr and exits 1.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, stop))
}
