package hub_test

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"edgews/hub"
	"edgews/hub/auth"
	"github.com/golang-jwt/jwt/v5"
)

// heldCluster is a hub.Cluster whose claims wait for the test to answer
// them (Answer): the hub's side of a slow registry, without a network
// (hub/cluster's tests run the real one).
type heldCluster struct {
	mu      sync.Mutex
	pending map[string][]hub.Claimant // name -> claims not answered yet
	claimed []string                  // every name claimed, in order
}

func (c *heldCluster) Attach(hub.Receiver)                     {}
func (c *heldCluster) Publish(string, []byte)                  {}
func (c *heldCluster) SendTo(string, []byte)                   {}
func (c *heldCluster) SendAll([]byte)                          {}
func (c *heldCluster) Subscribe(string)                        {}
func (c *heldCluster) Unsubscribe(string)                      {}
func (c *heldCluster) Update(string, string)                   {}
func (c *heldCluster) Release(string)                          {}
func (c *heldCluster) Users() int64                            { return 0 }
func (c *heldCluster) Roster(string, []string) ([]string, int) { return nil, 0 }
func (c *heldCluster) Lookup(string) (string, string, bool)    { return "", "", false }
func (c *heldCluster) WhenSubscribed(string, hub.Waiter) bool  { return true }

func (c *heldCluster) Claim(name, _ string, done hub.Claimant) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		c.pending = make(map[string][]hub.Claimant)
	}
	if done != nil { // nil: a name the hub keeps, not waited for
		c.pending[name] = append(c.pending[name], done)
	}
	c.claimed = append(c.claimed, name)
}

// answer gives res to the claims of name made so far.
func (c *heldCluster) answer(name string, res hub.ClaimResult) int {
	c.mu.Lock()
	ds := c.pending[name]
	delete(c.pending, name)
	c.mu.Unlock()
	for _, d := range ds {
		d.Claimed(res, "")
	}
	return len(ds)
}

// An authenticated user takes its name from an anonymous member whose
// cluster claim is still unanswered: the member arrives under a generated
// name, told why, and claims that name; the authenticated user arrives as
// itself.
func TestEvictedWhileClaiming(t *testing.T) {
	v, err := auth.New(auth.Config{Mode: auth.Optional, HMACSecret: testSecret, Issuer: "app", Now: (&fakeClock{t: authT0}).now, ValidName: hub.ValidName})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	cl := &heldCluster{}
	p, _ := newChatConfig(t, 1, hub.Config{Shards: 4, Auth: v, Cluster: cl})
	anon, err := p.Open("/chat?name=alice", 0, true)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := p.Open("/chat?token="+token(t, jwt.MapClaims{"sub": "alice", "iss": "app"}), 0, true)
	if err != nil {
		t.Fatal(err)
	}
	p.Drain() // the eviction runs: the member is not in a room yet
	if n := cl.answer("alice", hub.ClaimGranted); n != 2 {
		t.Fatalf("%d claims of alice, want 2 (the member's and the token's)", n)
	}
	p.Drain()
	got := p.Received(anon)
	if len(got) != 2 || !strings.HasPrefix(got[0], "You are connected!") ||
		!strings.HasPrefix(got[1], `error: name "alice" is reserved for its authenticated user; you are user`) {
		t.Fatalf("evicted member got %q", got)
	}
	newName := got[1][strings.LastIndex(got[1], " ")+1:]
	if !slices.Contains(cl.claimed, newName) {
		t.Fatalf("claims %q: the evicted member's new name %q not claimed", cl.claimed, newName)
	}
	if got := p.Received(tab); len(got) != 1 || !strings.HasPrefix(got[0], "You are connected!") {
		t.Fatalf("authenticated user got %q", got)
	}
	send(p, anon, "/w alice hi")
	if got := p.Received(tab); !slices.Equal(got, []string{"[" + newName + " -> alice]: hi"}) {
		t.Fatalf("whisper to alice reached the token's user as %q", got)
	}
}
