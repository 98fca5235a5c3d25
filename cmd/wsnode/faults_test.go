package main

import (
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"edgews/engine/enginetest"
	"edgews/hub/cluster/clustertest"
	"github.com/gorilla/websocket"
)

// --history-shared with JetStream out of reach at start: the node never
// falls back to a history of its own (its messages would go into the
// other nodes' shared histories with offsets it made up). With
// --history-shared-wait it refuses to start once the wait is over (exit
// 1); without, it waits, serving nothing, and starts once the stream is
// set up.
func TestHistorySharedWait(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	ns := clustertest.StartNATS(t)
	p := clustertest.StartProxy(t, ns.URL())
	p.Down()
	flags := []string{"--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--loops", "2", "--nats", p.URL(), "--history-shared"}

	refused, _ := launch(t, exec.Command(binPath, append(flags, "--node-id", "r", "--history-shared-wait", "1s")...))
	select {
	case err := <-refused.exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("exit %v, want status 1; log:\n%s", err, refused.logs())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("node with --history-shared-wait 1s still running after 15 s; log:\n%s", refused.logs())
	}
	if l := refused.logs(); !strings.Contains(l, "refusing to start") || strings.Contains(l, "msg=listening") {
		t.Fatalf("log:\n%s", l)
	}

	waiting, ready := launch(t, exec.Command(binPath, append(flags, "--node-id", "w")...))
	select {
	case <-ready:
		t.Fatalf("node listening without its shared history; log:\n%s", waiting.logs())
	case err := <-waiting.exited:
		t.Fatalf("node exited (%v) instead of waiting; log:\n%s", err, waiting.logs())
	case <-time.After(2500 * time.Millisecond): // one attempt (2 s) failed
	}
	if !strings.Contains(waiting.logs(), "waiting for JetStream") {
		t.Fatalf("log:\n%s", waiting.logs())
	}
	p.Up()
	select {
	case <-ready:
	case <-time.After(15 * time.Second):
		t.Fatalf("node not started once NATS is reachable; log:\n%s", waiting.logs())
	}
	enginetest.CheckFor(t, 10*time.Second, func() bool { code, _ := healthz("http://" + waiting.metricsAddr + "/healthz"); return code == 200 }, "healthz 200")
	waitMetric(t, waiting, "wsnode_history_shared_consumer_up", 1)
}

// SIGTERM with NATS silent and registry calls piling up: the node exits
// within --drain-timeout and cluster.CloseMargin, logging the names it
// could not release (the other nodes free them within the TTL). It used to
// wait for every queued call, seconds each.
func TestDrainDeadlineNATSSilent(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	ns := clustertest.StartNATS(t)
	p := clustertest.StartProxy(t, ns.URL())
	n := startNode(t, "--nats", p.URL(), "--node-id", "d", "--drain-timeout", "1s", "--cluster-ttl", "2s", "--chat-rate", "0")
	enginetest.CheckFor(t, 10*time.Second, func() bool { code, _ := healthz("http://" + n.metricsAddr + "/healthz"); return code == 200 }, "healthz 200")
	p.Stall()
	for i := range 30 { // users who leave before their claim is answered
		c, _, err := websocket.DefaultDialer.Dial("ws://"+n.addr+"/chat?name=u"+string(rune('a'+i%26))+string(rune('a'+i/26)), nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	time.Sleep(200 * time.Millisecond) // the node has seen them go
	start := time.Now()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-n.exited:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, n.logs())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("node still running 20 s after SIGTERM; log:\n%s", n.logs())
	}
	took := time.Since(start)
	t.Logf("exited %v after SIGTERM", took.Round(time.Millisecond))
	if limit := 3 * time.Second; took > limit { // 1 s drain, 1 s margin, process start-up of the check
		t.Fatalf("exited %v after SIGTERM with --drain-timeout 1s, want at most %v; log:\n%s", took, limit, n.logs())
	}
	if !strings.Contains(n.logs(), "names not released") {
		t.Fatalf("no log of the names not released:\n%s", n.logs())
	}
}
