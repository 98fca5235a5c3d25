package hub_test

import (
	"testing"

	"edgews/hub"
	"edgews/hub/auth"
	"github.com/golang-jwt/jwt/v5"
)

// tap is a hub.Cluster that keeps the last message published and grants
// every claim: the hub's side of the cluster, measured without a network
// (hub/cluster's tests run the real thing over a real nats-server).
type tap struct {
	last []byte
	n    int // messages published
	all  int // of them to every node (SendAll)
}

func (c *tap) Attach(hub.Receiver)                    {}
func (c *tap) Publish(_ string, msg []byte)           { c.last = append(c.last[:0], msg...); c.n++ }
func (c *tap) SendTo(_ string, msg []byte)            { c.Publish("", msg) }
func (c *tap) SendAll(msg []byte)                     { c.Publish("", msg); c.all++ }
func (c *tap) Subscribe(string)                       {}
func (c *tap) Unsubscribe(string)                     {}
func (c *tap) WhenSubscribed(string, hub.Waiter) bool { return true }
func (c *tap) Claim(_, _ string, done hub.Claimant) {
	if done != nil { // nil: a name the hub keeps, not waited for
		done.Claimed(hub.ClaimGranted, "")
	}
}
func (c *tap) Update(string, string)                   {}
func (c *tap) Release(string)                          {}
func (c *tap) Users() int64                            { return 0 }
func (c *tap) Roster(string, []string) ([]string, int) { return nil, 0 }
func (c *tap) Lookup(string) (string, string, bool)    { return "", "", false }

// In a cluster, a whisper to a user that may have connections on other
// nodes (an authenticated user of this node, whose tabs share its name
// everywhere) also goes to every other node; one to an anonymous user of
// this node (its name's only holder in the cluster) stays here.
func TestWhisperToOtherNodes(t *testing.T) {
	v, err := auth.New(auth.Config{Mode: auth.Optional, HMACSecret: testSecret, Issuer: "app", Now: (&fakeClock{t: authT0}).now, ValidName: hub.ValidName})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	cl := &tap{}
	p, _ := newChatConfig(t, 2, hub.Config{Shards: 4, Auth: v, Cluster: cl})
	bob := openAs(t, p, "/chat?name=bob", 0, false)
	carol := openAs(t, p, "/chat?name=carol", 1, false)
	alice := openTok(t, p, jwt.MapClaims{"sub": "u1", "name": "alice"}, 1, false)
	p.Received(carol)
	send(p, bob, "/w carol hi")
	if got := p.Received(carol); len(got) != 1 || got[0] != "[bob -> carol]: hi" || cl.all != 0 {
		t.Fatalf("whisper to a local anonymous user: %q, %d sent to every node", got, cl.all)
	}
	send(p, bob, "/w alice hi")
	if got := p.Received(alice); len(got) != 1 || got[0] != "[bob -> alice]: hi" || cl.all != 1 {
		t.Fatalf("whisper to a local authenticated user: %q, %d sent to every node", got, cl.all)
	}
	send(p, bob, "/w zed hi")
	if got := p.Received(bob); len(got) != 3 || got[2] != `error: no user named "zed"` || cl.all != 1 {
		t.Fatalf("whisper to nobody: %q, %d sent to every node", got, cl.all)
	}
}
