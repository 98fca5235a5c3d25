// Command wsnode runs the edge WebSocket node: /echo and /chat on one port.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"edgews/engine"
	"edgews/hub"
)

func main() {
	var cfg engine.Config
	var hcfg hub.Config
	fs := flag.NewFlagSet("wsnode", flag.ExitOnError)
	fs.StringVar(&cfg.Addr, "addr", ":8080", "TCP address to listen on")
	fs.IntVar(&cfg.Loops, "loops", 0, "event loops (0 = one per CPU core)")
	fs.DurationVar(&cfg.PingPeriod, "ping-period", 0, "server ping period (0 = off)")
	fs.DurationVar(&cfg.Timeout, "timeout", engine.DefaultTimeout, "close a connection silent this long (negative = off)")
	fs.DurationVar(&cfg.HandshakeTimeout, "handshake-timeout", engine.DefaultHandshakeTimeout, "close a connection that has not upgraded within this")
	fs.DurationVar(&cfg.CloseTimeout, "close-timeout", engine.DefaultCloseTimeout, "wait this long for the peer's close frame")
	fs.Int64Var(&cfg.MaxFrameSize, "max-frame-size", 1<<20, "largest frame payload in bytes (larger: close 1009)")
	fs.Int64Var(&cfg.MaxMessageSize, "max-message-size", 4<<20, "largest message in bytes (larger: close 1009)")
	fs.IntVar(&cfg.MaxHeaderBytes, "max-header-bytes", engine.DefaultMaxHeaderBytes, "largest upgrade request head (larger: 431)")
	fs.IntVar(&cfg.MaxOutboundBytes, "max-outbound-bytes", engine.DefaultMaxOutboundBytes, "bytes queued for one connection before it is closed as a slow consumer")
	fs.BoolVar(&cfg.ReusePort, "reuseport", false, "set SO_REUSEPORT so several nodes share --addr")
	fs.IntVar(&cfg.SocketRecvBuffer, "sock-rcvbuf", 0, "SO_RCVBUF per connection in bytes (0 = kernel default)")
	fs.IntVar(&cfg.SocketSendBuffer, "sock-sndbuf", 0, "SO_SNDBUF per connection in bytes (0 = kernel default)")
	fs.IntVar(&hcfg.Shards, "shards", hub.DefaultShards, "hub registry shards")
	_ = fs.Parse(os.Args[1:])

	raiseFileLimit()
	srv := engine.New(cfg)
	hub.New(srv, hcfg)
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	go func() {
		<-srv.Ready()
		fmt.Printf("wsnode listening on %s pid %d\n", srv.Addr(), os.Getpid())
	}()
	if err := srv.Run(); !errors.Is(err, engine.ErrServerClosed) {
		log.Fatal(err)
	}
}

// raiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit: every
// connection is a descriptor.
func raiseFileLimit() {
	var r syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r) == nil && r.Cur < r.Max {
		r.Cur = r.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	}
}
