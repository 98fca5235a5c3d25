package cluster_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edgews/engine/enginetest"
)

// NATS restarted during traffic (same port and store): the nodes
// reconnect and resubscribe by themselves, chat across nodes resumes, and
// nothing is delivered twice (what was in flight may be lost: core NATS
// is at most once).
func TestNATSRestartDuringTraffic(t *testing.T) {
	ns, nodes := startCluster(t, 3)
	var cls []*client
	for i, n := range nodes {
		cl := dial(t, n, fmt.Sprintf("?name=r%d", i))
		cl.expectPrefix(t, "You are connected!")
		cls = append(cls, cl)
	}
	waitSubscribed(t, nodes, "lobby")
	waitUsers(t, nodes, 3)

	var stop atomic.Bool
	var wg sync.WaitGroup
	for i, cl := range cls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; !stop.Load(); k++ {
				if cl.c.WriteMessage(1, []byte(fmt.Sprintf("t%d-%d", i, k))) != nil {
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond) // traffic before the restart
	ns.Restart(t)
	for _, n := range nodes {
		enginetest.CheckFor(t, 10*time.Second, n.cl.Healthy, n.cl.ID()+" healthy again")
	}
	time.Sleep(100 * time.Millisecond) // traffic after it
	stop.Store(true)
	wg.Wait()
	// Chat across nodes works again: a marker from each node reaches all.
	enginetest.CheckFor(t, 5*time.Second, func() bool { return nodes[0].cl.Stats().Reconnects.Load() > 0 }, "a reconnect counted")
	for i, cl := range cls {
		cl.send(t, fmt.Sprintf("after%d", i))
	}
	for ci, cl := range cls {
		last := make([]int, len(cls)) // last number seen per sender
		for i := range last {
			last[i] = -1
		}
		after := 0
		for after < len(cls) {
			line := cl.next(t)
			if strings.Contains(line, "]: after") {
				after++
				continue
			}
			var from, k int
			if _, err := fmt.Sscanf(line[strings.Index(line, "]: ")+3:], "t%d-%d", &from, &k); err != nil {
				t.Fatalf("client %d: unexpected %q", ci, line)
			}
			if k <= last[from] {
				t.Fatalf("client %d: t%d-%d after t%d-%d: delivered twice or out of order", ci, from, k, from, last[from])
			}
			last[from] = k
		}
		// Its own messages all came back (local delivery never stops).
		if last[ci] < 0 {
			t.Fatalf("client %d saw none of its own messages", ci)
		}
	}
	var lost int64
	for _, n := range nodes {
		lost += n.cl.Stats().PubDropped.Load()
	}
	t.Logf("publishes dropped during the outage: %d", lost)
}
