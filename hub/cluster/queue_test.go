package cluster_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"edgews/engine/enginetest"
	"edgews/hub/cluster"
	"edgews/hub/cluster/clustertest"
)

// churn connects and at once disconnects k users named prefix0... to n,
// and waits until the node has seen every disconnect.
func churn(t *testing.T, n *node, prefix string, k int) {
	t.Helper()
	users := n.hub.Users()
	for i := range k {
		dial(t, n, fmt.Sprintf("?name=%s%d", prefix, i)).c.Close()
	}
	enginetest.CheckFor(t, 5*time.Second, func() bool { return n.hub.Users() == users }, "the users gone from the node")
}

// NATS silent: the claims and releases of users who connect and leave at
// once pile up behind registry calls that time out. A release cancels its
// name's claim still queued (its connection is gone), so the queue holds
// the releases only, counted; and Close, with a context of 1 s, returns
// within it and CloseMargin, logging the names it could not release. (It
// used to wait for every queued call: 18-28 s for 30 such users.)
func TestRegistryGoneWorkAndClose(t *testing.T) {
	ns := clustertest.StartNATS(t)
	p := clustertest.StartProxy(t, ns.URL())
	var log logs
	n := startNodeWith(t, cluster.Config{URLs: p.URL(), NodeID: "q", TTL: testTTL, OpTimeout: 300 * time.Millisecond, Logger: log.logger()})
	enginetest.CheckFor(t, 10*time.Second, n.cl.Healthy, "node healthy")
	p.Stall()
	const k = 30
	churn(t, n, "c", k)
	st := n.cl.Stats()
	if q := st.RegistryQueued.Load(); q > k {
		t.Fatalf("%d registry calls queued for %d users gone: their claims were not cancelled", q, k)
	}
	if g := st.RegistryGone.Load(); g < k/2 {
		t.Fatalf("RegistryGone = %d, want most of the %d claims", g, k)
	}

	n.srv.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_ = n.cl.Close(ctx)
	took := time.Since(start)
	t.Logf("Close took %v", took.Round(time.Millisecond))
	if limit := time.Second + cluster.CloseMargin + 250*time.Millisecond; took > limit {
		t.Fatalf("Close took %v with NATS silent, want at most %v", took, limit)
	}
	if !strings.Contains(log.String(), "names not released") {
		t.Fatalf("no log of the names not released:\n%s", log.String())
	}
}

// The registry queue is bounded: past Config.RegistryQueue entries, a
// claim is refused as busy at once (the user is told, and may come back)
// instead of waiting behind calls that time out, and counted.
func TestRegistryQueueBounded(t *testing.T) {
	ns := clustertest.StartNATS(t)
	p := clustertest.StartProxy(t, ns.URL())
	const bound = 8
	n := startNodeWith(t, cluster.Config{URLs: p.URL(), NodeID: "q", TTL: testTTL, OpTimeout: 500 * time.Millisecond, RegistryQueue: bound})
	enginetest.CheckFor(t, 10*time.Second, n.cl.Healthy, "node healthy")
	p.Stall()
	var cls []*client
	for i := range 24 {
		cls = append(cls, dial(t, n, fmt.Sprintf("?name=b%d", i)))
	}
	// A claim waits out three op timeouts (1.5 s) before it is refused:
	// within 1 s, only those refused at the bound are told.
	busy := 0
	for end := time.After(time.Second); ; {
		select {
		case <-end:
		default:
			for _, c := range cls {
				select {
				case l := <-c.in:
					if strings.Contains(l, "name service busy") {
						busy++
					}
				default:
				}
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		break
	}
	st := n.cl.Stats()
	// The bound is on the users' calls; the node's own (a resync and a
	// retry, at most one of each per worker: 4 workers) come on top.
	if q := st.RegistryQueued.Load(); q > bound+2*4 {
		t.Fatalf("%d registry calls queued, bound %d (+ up to 8 of the node's own)", q, bound)
	}
	if busy < 8 || st.RegistryDropped.Load() < int64(busy) {
		t.Fatalf("%d users told the name service is busy within 1 s, %d claims dropped at the bound; want at least 8 of 24, bound %d", busy, st.RegistryDropped.Load(), bound)
	}
	p.Resume()
	enginetest.CheckFor(t, 10*time.Second, func() bool { return st.RegistryQueued.Load() == 0 }, "queue drained once NATS answers")
	ok := dial(t, n, "?name=after")
	ok.expectPrefix(t, "You are connected!")
}

// Users who leave while NATS is down leave nothing behind in the node's
// memory for later (its maps of names to write or delete are bounded, and
// releases made while the registry is away are not kept one by one): the
// set-up once NATS is back deletes this node's entries that no user holds
// any more, and writes those that users hold.
func TestOutageReleasesPurged(t *testing.T) {
	ns := clustertest.StartNATS(t)
	n := startNode(t, ns.URL(), "o")
	enginetest.CheckFor(t, 10*time.Second, n.cl.Healthy, "node healthy")
	names, _ := registry(t, ns.URL())
	const k = 20
	var cls []*client
	for i := range k {
		c := dial(t, n, fmt.Sprintf("?name=o%d", i))
		c.expectPrefix(t, "You are connected!")
		cls = append(cls, c)
	}
	stay := dial(t, n, "?name=stay")
	stay.expectPrefix(t, "You are connected!")
	enginetest.CheckFor(t, 5*time.Second, func() bool { return entry(names, fmt.Sprintf("o%d", k-1)) != "" }, "names registered")

	ns.Shutdown()
	enginetest.CheckFor(t, 5*time.Second, func() bool { return !n.cl.Healthy() }, "node sees the outage")
	for _, c := range cls {
		c.c.Close()
	}
	enginetest.CheckFor(t, 5*time.Second, func() bool { return n.hub.Users() == 1 }, "the users gone from the node")
	churn(t, n, "gone", k)
	late := dial(t, n, "?name=late")
	late.expectPrefix(t, "You are connected!")
	if p := n.cl.RegistryPending(); p > 1 {
		t.Fatalf("%d names kept for later after %d releases during the outage, want at most the one granted (late)", p, 2*k)
	}

	ns.Restart(t)
	enginetest.CheckFor(t, 10*time.Second, n.cl.Healthy, "node healthy again")
	enginetest.CheckFor(t, 10*time.Second, func() bool {
		for i := range k {
			if entry(names, fmt.Sprintf("o%d", i)) != "" {
				return false
			}
		}
		return entry(names, "stay") == "o lobby stay" && entry(names, "late") == "o lobby late"
	}, "the released names purged, the held ones written")
	if p := n.cl.RegistryPending(); p != 0 {
		t.Fatalf("%d names still pending", p)
	}
}
