// Command backendload is the application's backend side of the server API
// benchmarks (bench/backend.sh): API calls at a fixed rate, and an events
// receiver.
//
//	backendload api --url http://127.0.0.1:9000 --key-file KEY --rate 1000 --duration 10s --mix publish,presence --room lobby --publish-room news
//	backendload receive --addr 127.0.0.1:9100 --secret-file SECRET
//
// api prints the calls made, the errors and the latency percentiles; receive
// checks every batch's signature and prints the events and batches taken
// when it is stopped (SIGINT, SIGTERM).
package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"edgews/hub/api/client"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: backendload api|receive [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "api":
		err = apiLoad(os.Args[2:])
	case "receive":
		err = receive(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "backendload:", err)
		os.Exit(1)
	}
}

func readKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	return strings.TrimSpace(string(b)), err
}

// apiLoad calls the API at --rate calls per second, cycling through --mix.
func apiLoad(args []string) error {
	fs := flag.NewFlagSet("api", flag.ExitOnError)
	url := fs.String("url", "http://127.0.0.1:9000", "the API's address")
	keyFile := fs.String("key-file", "", "the API key's file")
	rate := fs.Float64("rate", 1000, "calls per second")
	duration := fs.Duration("duration", 10*time.Second, "how long")
	mix := fs.String("mix", "publish,presence", "methods, in turn: publish, presence, rooms, info")
	room := fs.String("room", "lobby", "the room of presence (and publish)")
	pubRoom := fs.String("publish-room", "", "the room of publish (empty: --room)")
	workers := fs.Int("workers", 64, "calls in flight at most")
	_ = fs.Parse(args)
	key, err := readKey(*keyFile)
	if err != nil {
		return err
	}
	if *pubRoom == "" {
		*pubRoom = *room
	}
	c := client.New(*url, key)
	c.HTTP.Transport = &http.Transport{MaxIdleConnsPerHost: *workers}
	methods := strings.Split(*mix, ",")
	call := func(ctx context.Context, i int) error {
		switch methods[i%len(methods)] {
		case "publish":
			return c.Publish(ctx, *pubRoom, fmt.Sprintf("notice %d from the backend, about sixty bytes long...", i))
		case "presence":
			_, err := c.Presence(ctx, *room)
			return err
		case "rooms":
			_, err := c.Rooms(ctx)
			return err
		case "info":
			_, err := c.Info(ctx)
			return err
		}
		return fmt.Errorf("unknown method %q", methods[i%len(methods)])
	}
	var (
		mu     sync.Mutex
		lat    = make(map[string][]time.Duration) // by method
		errs   atomic.Int64
		late   atomic.Int64 // calls that could not start on time: all workers busy
		sample error
	)
	jobs := make(chan int, *workers)
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				t0 := time.Now()
				err := call(context.Background(), i)
				d := time.Since(t0)
				m := methods[i%len(methods)]
				mu.Lock()
				lat[m] = append(lat[m], d)
				if err != nil && sample == nil {
					sample = err
				}
				mu.Unlock()
				if err != nil {
					errs.Add(1)
				}
			}
		}()
	}
	interval := time.Duration(float64(time.Second) / *rate)
	start := time.Now()
	for i := 0; time.Since(start) < *duration; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		select {
		case jobs <- i:
		default:
			late.Add(1)
		}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	summary := func(l []time.Duration) string {
		slices.Sort(l)
		pct := func(p float64) time.Duration {
			if len(l) == 0 {
				return 0
			}
			return l[min(len(l)-1, int(p*float64(len(l))))].Round(10 * time.Microsecond)
		}
		return fmt.Sprintf("p50 %v p99 %v p99.9 %v max %v", pct(0.5), pct(0.99), pct(0.999), pct(1))
	}
	fmt.Printf("calls %d (%.0f/s) errors %d skipped %d  latency %s", len(all), float64(len(all))/elapsed.Seconds(), errs.Load(), late.Load(), summary(all))
	for _, m := range slices.Sorted(maps.Keys(lat)) {
		fmt.Printf("; %s %s", m, summary(lat[m]))
	}
	fmt.Println()
	if sample != nil {
		fmt.Println("first error:", sample)
	}
	return nil
}

// receive is an events receiver.
func receive(args []string) error {
	fs := flag.NewFlagSet("receive", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:9100", "listen address")
	secretFile := fs.String("secret-file", "", "the events' secret file")
	_ = fs.Parse(args)
	secret, err := readKey(*secretFile)
	if err != nil {
		return err
	}
	var events, batches, bad atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		var evs []json.RawMessage
		if !hmac.Equal([]byte(r.Header.Get("X-Signature")), []byte("sha256="+hex.EncodeToString(mac.Sum(nil)))) || json.Unmarshal(body, &evs) != nil {
			bad.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		events.Add(int64(len(evs)))
		batches.Add(1)
	})
	srv := &http.Server{Addr: *addr, Handler: h}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		return err
	}
	fmt.Printf("events %d batches %d bad %d\n", events.Load(), batches.Load(), bad.Load())
	return nil
}
