package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"edgews/engine/enginetest"
	"github.com/gorilla/websocket"
)

// receiver is the application's events endpoint: it checks every batch's
// signature and keeps the events.
type receiver struct {
	secret []byte
	addr   string
	srv    *http.Server

	mu      sync.Mutex
	events  []map[string]any
	batches int
	badSig  int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	mac := hmac.New(sha256.New, r.secret)
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	r.mu.Lock()
	defer r.mu.Unlock()
	if !hmac.Equal([]byte(req.Header.Get("X-Signature")), []byte(want)) {
		r.badSig++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var evs []map[string]any
	if err := json.Unmarshal(body, &evs); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.events = append(r.events, evs...)
	r.batches++
}

// start serves on r.addr (a free port the first time).
func (r *receiver) start(t *testing.T) {
	t.Helper()
	if r.addr == "" {
		r.addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.srv = &http.Server{Handler: r}
	go func() { _ = r.srv.Serve(ln) }()
	t.Cleanup(func() { _ = r.srv.Close() })
}

// stop takes the receiver down: connections are refused.
func (r *receiver) stop() { _ = r.srv.Close() }

// messages are the texts of the message events received, in order.
func (r *receiver) messages(prefix string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.events {
		if ev["type"] == "message" && strings.HasPrefix(ev["text"].(string), prefix) {
			out = append(out, ev["text"].(string))
		}
	}
	return out
}

// The events receiver checks each batch's signature and gets every
// message event exactly once while it is healthy; down for 5 s, it gets,
// once back, everything the queue (64 KiB) held, in order, and the events
// past the bound are counted as dropped; the chat goes on meanwhile.
func TestEventsWebhook(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	path, secret := secretFile(t)
	r := &receiver{secret: secret}
	r.start(t)
	const queue = 64 << 10
	n := startNode(t, "--events-url", "http://"+r.addr+"/events", "--events-secret-file", path, "--events-queue", fmt.Sprint(queue),
		"--events-batch", "20", "--chat-rate", "0")
	alice, _ := chatClient(t, n, "?name=alice")
	say := func(prefix string, k int) {
		for i := range k {
			if err := alice.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf("%s%03d", prefix, i))); err != nil {
				t.Fatal(err)
			}
		}
		readUntil(t, alice, fmt.Sprintf("[alice]: %s%03d", prefix, k-1))
	}
	want := func(prefix string, k int) []string {
		var out []string
		for i := range k {
			out = append(out, fmt.Sprintf("%s%03d", prefix, i))
		}
		return out
	}

	say("h", 100)
	enginetest.CheckFor(t, 5*time.Second, func() bool { return len(r.messages("h")) >= 100 }, "100 message events")
	time.Sleep(300 * time.Millisecond) // nothing more comes
	if got := r.messages("h"); !slices.Equal(got, want("h", 100)) {
		t.Fatalf("healthy receiver: %d events, want each of 100 once, in order: %q", len(got), got)
	}
	r.mu.Lock()
	if r.badSig != 0 || r.batches < 5 { // batches of at most 20
		t.Fatalf("bad signatures %d, batches %d", r.badSig, r.batches)
	}
	for _, ev := range r.events {
		if ev["type"] == "message" && (ev["room"] != "lobby" || ev["from"] != "alice" || ev["offset"] == nil || ev["epoch"] == nil || ev["node"] == nil || ev["ts"] == nil) {
			t.Fatalf("message event %v", ev)
		}
	}
	r.mu.Unlock()

	// Down for 5 s: 1,000 events of ~140 bytes do not fit in 64 KiB.
	r.stop()
	down := time.Now()
	const burst = 1000
	say("d", burst)
	waitMetric(t, n, "wsnode_events_sent_total", 101) // 100 messages and alice's connect
	if sent := scrape(t, n, "wsnode_events_sent_total"); sent != 101 {
		t.Fatalf("events sent while the receiver is down: %v", sent)
	}
	dropped := scrape(t, n, `wsnode_events_dropped_total{reason="queue_full"}`)
	if dropped <= 0 || dropped >= burst {
		t.Fatalf("dropped %v of %d with the receiver down", dropped, burst)
	}
	q := scrape(t, n, "wsnode_events_queue_bytes")
	if q <= 0 || q > queue {
		t.Fatalf("queue bytes %v, bound %d", q, queue)
	}
	if held := scrape(t, n, "wsnode_held_bytes"); held < q { // --memory-budget counts the queue
		t.Fatalf("held bytes %v, less than the events queue's %v", held, q)
	}
	time.Sleep(time.Until(down.Add(5 * time.Second)))
	r.start(t)
	kept := burst - int(dropped)
	enginetest.CheckFor(t, 10*time.Second, func() bool { return len(r.messages("d")) >= kept }, fmt.Sprintf("the %d queued events", kept))
	time.Sleep(300 * time.Millisecond)
	if got := r.messages("d"); !slices.Equal(got, want("d", kept)) {
		t.Fatalf("after the outage: got %d events, want the first %d (the queued ones) once each, in order: %q", len(got), kept, got)
	}
	t.Logf("receiver down 5 s: %d events queued and delivered after, %v dropped (counted)", kept, dropped)
	if !strings.Contains(n.logs(), "events queue full") {
		t.Fatalf("the drops are not logged:\n%s", n.logs())
	}
	// The chat goes on, and events flow again.
	say("a", 10)
	enginetest.CheckFor(t, 5*time.Second, func() bool { return len(r.messages("a")) == 10 }, "events after the outage")
}
