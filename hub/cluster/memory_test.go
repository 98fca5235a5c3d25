package cluster_test

import (
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"edgews/engine/enginetest"
	"edgews/hub"
	"edgews/hub/cluster/clustertest"
)

// registryUsers is how many names TestRegistryBytesPerUser claims.
const registryUsers = 10_000

// maxRegistryBytesPerUser bounds what the cluster package keeps per
// claimed name once the claims are done: nothing (what this node holds is
// the hub's, read back when the registry must be written again). It was
// 37 to 75 bytes with a worker's map of the names held, 92 before that.
// The bound leaves room for the package's fixed state (the workers'
// batch arrays) spread over the users.
const maxRegistryBytesPerUser = 4

// TestRegistryBytesPerUser claims registryUsers names on a node joined to
// a real nats-server and counts, from an exact heap profile, the bytes
// still in use that were allocated under this package's code (the
// in-process nats-server's own store is not this node's memory: in a
// deployment it runs elsewhere, and its goroutines' allocations are not
// under this package).
func TestRegistryBytesPerUser(t *testing.T) {
	ns := clustertest.StartNATS(t)
	n := startNode(t, ns.URL(), "mem")
	enginetest.CheckFor(t, 10*time.Second, n.cl.Healthy, "node healthy")
	room := "lobby"
	names := make([]string, registryUsers)
	for i := range names {
		names[i] = "user" + strconv.Itoa(1_000_000+i)
	}
	// Every allocation from here on is in the profile (set only now: the
	// server's and the node's start-up run at the usual rate, faster).
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = old }()
	before := clusterInUse()
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := 0
	wg.Add(len(names))
	for _, name := range names {
		n.cl.Claim(name, room, hub.ClaimFunc(func(res hub.ClaimResult) {
			if res != hub.ClaimGranted {
				mu.Lock()
				refused++
				mu.Unlock()
			}
			wg.Done()
		}))
	}
	wg.Wait()
	if refused != 0 {
		t.Fatalf("%d of %d claims refused", refused, len(names))
	}
	// The watch delivers this node's own names too: let it catch up, so
	// that what it keeps of them (nothing, it should be) is counted.
	time.Sleep(200 * time.Millisecond)
	after := clusterInUse()
	per := float64(after.total-before.total) / registryUsers
	t.Logf("registry state: %.1f B per user over %d claims", per, registryUsers)
	for _, s := range after.top(before) {
		t.Log(s)
	}
	if per > maxRegistryBytesPerUser {
		t.Errorf("registry state: %.1f B per user, want at most %d", per, maxRegistryBytesPerUser)
	}
	runtime.KeepAlive(names)
}

type inUse struct {
	total int64
	sites map[string]int64
}

// clusterInUse sums the heap bytes in use that were allocated with a frame
// of this package on the stack, by allocating frame.
func clusterInUse() inUse {
	for range 3 { // the profile is as of the last completed GC cycle
		runtime.GC()
	}
	var recs []runtime.MemProfileRecord
	for {
		k, ok := runtime.MemProfile(recs, true)
		if ok {
			recs = recs[:k]
			break
		}
		recs = make([]runtime.MemProfileRecord, k+100)
	}
	u := inUse{sites: make(map[string]int64)}
	for _, r := range recs {
		b := r.InUseBytes()
		if b == 0 {
			continue
		}
		site := ""
		frames := runtime.CallersFrames(r.Stack())
		for {
			f, more := frames.Next()
			if site == "" && !strings.HasPrefix(f.Function, "runtime.") {
				site = f.Function + ":" + strconv.Itoa(f.Line)
			}
			if strings.HasPrefix(f.Function, "edgews/hub/cluster.") {
				u.total += b
				u.sites[site+" <- "+f.Function+":"+strconv.Itoa(f.Line)] += b
				break
			}
			if !more {
				break
			}
		}
	}
	return u
}

// top lists the sites that grew most since before.
func (u inUse) top(before inUse) []string {
	type kv struct {
		k string
		v int64
	}
	var l []kv
	for k, v := range u.sites {
		if d := v - before.sites[k]; d > 1000 {
			l = append(l, kv{k, d})
		}
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v })
	var s []string
	for _, e := range l {
		s = append(s, strconv.FormatInt(e.v, 10)+" B: "+e.k)
	}
	return s
}
