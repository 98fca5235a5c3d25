package bench_test

import (
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"edgews/bench"
	"edgews/engine/enginetest"
	"edgews/hub/cluster/clustertest"
)

// Two real nodes that are not clustered: a room spans two islands. With
// Islands the accounting expects exactly what each island can deliver (its
// own senders' broadcasts to its own users) and finds no loss; the users,
// the worker processes and the server measurements cover both nodes.
func TestIslandsBroadcast(t *testing.T) {
	a, b := startBuiltNode(t), startBuiltNode(t)
	urls := []string{"ws://" + a.Addr, "ws://" + b.Addr}
	rep := run(t, bench.Config{Scenario: bench.Broadcast, URLs: urls, Islands: true, Conns: 21, Senders: 6, Rate: 24,
		Duration: 1500 * time.Millisecond, Drain: 500 * time.Millisecond, Procs: 2, ServerPIDs: []int{a.PID, b.PID}})
	m := rep.Messages
	if len(rep.Nodes) != 2 || !rep.Islands {
		t.Fatalf("nodes = %+v, islands %v; want 2 nodes, islands", rep.Nodes, rep.Islands)
	}
	var users, sent, recv, expected, accepted int64
	for i, n := range rep.Nodes {
		if n.URL != urls[i]+"/chat" || n.Users < 10 || n.Connected != n.Users || n.OpenAtStart != n.Users || n.Failed != 0 {
			t.Errorf("node %d = %+v, want %s/chat with its 10 or 11 users all open", i, n, urls[i])
		}
		if n.Accepted == 0 || n.Expected != n.Accepted*int64(n.OpenAtStart) || n.Lost != 0 || n.FromOther != 0 {
			t.Errorf("node %d = %+v, want expected = accepted x open, nothing lost, nothing from the other island", i, n)
		}
		users += int64(n.Users)
		sent += n.Sent
		recv += n.Received
		expected += n.Expected
		accepted += n.Accepted
	}
	if users != 21 || sent != m.Sent || recv != m.Received {
		t.Errorf("nodes sum to %d users, %d sent, %d received; report %+v", users, sent, recv, m)
	}
	if m.Refused != 0 || accepted != m.Sent || m.Expected != expected || m.Received != m.Expected || m.Lost != 0 || m.Extra != 0 {
		t.Errorf("messages = %+v, want expected = received = the islands' sum %d, none lost", m, expected)
	}
	if len(rep.Workers) != 2 || rep.Workers[0].Connected == 0 || rep.Workers[1].Connected == 0 {
		t.Errorf("workers = %+v, want 2 processes sharing the users", rep.Workers)
	}
	if len(rep.Servers) != 3 || rep.Servers[2].PID != 0 {
		t.Fatalf("servers = %+v, want both nodes and their sum", rep.Servers)
	}
	s0, s1, sum := rep.Servers[0], rep.Servers[1], rep.Servers[2]
	if s0.Error != "" || s1.Error != "" || s0.RSSAfterBytes == 0 || sum.RSSAfterBytes != s0.RSSAfterBytes+s1.RSSAfterBytes ||
		sum.CPUSeconds != s0.CPUSeconds+s1.CPUSeconds || sum.CPUSecPerMillion <= 0 {
		t.Errorf("servers = %+v, want the sum of both", rep.Servers)
	}
}

// The same islands counted as one cluster: what the bench calls lost is
// exactly the broadcasts that would have had to cross, and the chat
// scenario spreads its talkers over both nodes.
func TestIslandsCountedAsCluster(t *testing.T) {
	urls := []string{startNode(t), startNode(t)}
	rep := run(t, bench.Config{Scenario: bench.Chat, URLs: urls, Conns: 20, TalkFrac: 0.3, TalkRate: 3,
		Duration: 1500 * time.Millisecond, Drain: 500 * time.Millisecond})
	m := rep.Messages
	var cross int64
	for i, n := range rep.Nodes {
		other := rep.Nodes[1-i]
		if n.Users != 10 || n.OpenAtStart != 10 || n.Sent == 0 || n.Accepted != n.Sent {
			t.Errorf("node %d = %+v, want 10 users, talkers on it, all accepted", i, n)
		}
		if n.Expected != (n.Accepted+other.Accepted)*10 || n.Lost != other.Accepted*10 || n.FromOther != 0 {
			t.Errorf("node %d = %+v, want every broadcast expected, the other node's lost", i, n)
		}
		cross += other.Accepted * 10
	}
	if m.Expected != m.Sent*20 || m.Lost != cross || m.Received != m.Expected-cross || m.Extra != 0 {
		t.Errorf("messages = %+v, want the %d crossings lost, nothing else", m, cross)
	}
}

// A real cluster: three built nodes joined by a nats-server running in this
// process. Every broadcast reaches every user on every node exactly once,
// and the chat's whispers reach their targets across nodes.
func TestClusterNoLoss(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	ns := clustertest.StartNATS(t)
	var urls []string
	for i := range 3 {
		metrics := freeAddr(t)
		n := startBuiltNode(t, "--nats", ns.URL(), "--node-id", fmt.Sprintf("n%d", i), "--metrics-addr", metrics)
		enginetest.CheckFor(t, 10*time.Second, func() bool {
			resp, err := http.Get("http://" + metrics + "/healthz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}, "node /healthz 200 (joined the cluster)")
		urls = append(urls, "ws://"+n.Addr)
	}
	rep := run(t, bench.Config{Scenario: bench.Broadcast, URLs: urls, Conns: 30, Senders: 6, Rate: 24,
		Duration: 1500 * time.Millisecond, Drain: time.Second})
	m := rep.Messages
	if m.Sent < 20 || m.Refused != 0 || m.Expected != m.Sent*30 || m.Received != m.Expected || m.Lost != 0 || m.Extra != 0 {
		t.Fatalf("messages = %+v, want every broadcast delivered to all 30 users once", m)
	}
	for i, n := range rep.Nodes {
		if n.Users != 10 || n.OpenAtStart != 10 || n.Accepted == 0 || n.Lost != 0 ||
			n.Expected != m.Sent*10 || n.FromOther != (m.Sent-n.Accepted)*10 {
			t.Errorf("node %d = %+v, want 10 users receiving every broadcast, the other nodes' across", i, n)
		}
	}

	rep = run(t, bench.Config{Scenario: bench.Chat, URLs: urls, Conns: 30, TalkFrac: 0.3, TalkRate: 3, WhisperFrac: 0.3,
		Duration: 1500 * time.Millisecond, Drain: time.Second})
	m = rep.Messages
	if w := m.Whispers; w == nil || w.Sent == 0 || w.Received != w.Expected {
		t.Errorf("whispers = %+v, want every whisper at its target", m.Whispers)
	}
	if m.Lost != 0 || m.Extra != 0 || m.Received != m.Expected {
		t.Errorf("chat messages = %+v, want no loss across the cluster", m)
	}
}

// freeAddr is a 127.0.0.1 address that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
