package hub_test

import (
	"bufio"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"edgews/engine"
	"edgews/engine/enginetest"
	"edgews/hub"
	"edgews/hub/auth"
	"github.com/golang-jwt/jwt/v5"
)

// BenchmarkConnectAuth measures upgrades per second over loopback sockets
// with auth off, HS256 and RS256 tokens (RS256 verified on the loops, and
// off them on a worker per core), side by side: four nodes (2 loops each,
// in this process) take batches of 200 connects in turn, so that all see
// the same machine load, and each mode's rate is reported
// (off-connects/s, HS256-connects/s, RS256-connects/s,
// RS256-workers-connects/s). Each connect dials,
// sends the upgrade request (with ?token=), reads the 101 and closes, from
// GOMAXPROCS parallel clients. b.N connects go to each node.
func BenchmarkConnectAuth(b *testing.B) {
	clk := &fakeClock{t: authT0}
	rs := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": "bench", "exp": authT0.Add(time.Hour).Unix()})
	rs.Header["kid"] = "k1"
	rsTok, err := rs.SignedString(testRSA(b))
	if err != nil {
		b.Fatal(err)
	}
	modes := []struct {
		name, tok string
		workers   int // engine.Config.UpgradeWorkers
		addr      string
		took      time.Duration
	}{{name: "off"}, {name: "HS256", tok: token(b, jwt.MapClaims{"sub": "bench"})}, {name: "RS256", tok: rsTok},
		{name: "RS256-workers", tok: rsTok, workers: runtime.NumCPU()}}
	for i := range modes {
		cfg := hub.Config{Shards: 4}
		if modes[i].tok != "" {
			v, err := auth.New(auth.Config{Mode: auth.Required, HMACSecret: testSecret, PublicKeys: testRSAPEM(b), Now: clk.now})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(v.Close)
			cfg.Auth = v
		}
		srv := engine.New(engine.Config{Addr: "127.0.0.1:0", Loops: 2, UpgradeWorkers: modes[i].workers})
		hub.New(srv, cfg)
		enginetest.Start(b, srv)
		modes[i].addr = srv.Addr().String()
	}
	const batch = 200
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		n := min(batch, b.N-done)
		for i := range modes {
			target := "/echo"
			if modes[i].tok != "" {
				target += "?token=" + modes[i].tok
			}
			t0 := time.Now()
			connectMany(b, modes[i].addr, target, n)
			modes[i].took += time.Since(t0)
		}
	}
	for _, m := range modes {
		b.ReportMetric(float64(b.N)/m.took.Seconds(), m.name+"-connects/s")
	}
}

// connectMany upgrades n connections to target and closes them, from
// GOMAXPROCS goroutines.
func connectMany(b *testing.B, addr, target string, n int) {
	req := strings.Replace("GET %s HTTP/1.1\r\nHost: b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", "%s", target, 1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	left := n
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if left == 0 {
					mu.Unlock()
					return
				}
				left--
				mu.Unlock()
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.WriteString(c, req)
				line, err := bufio.NewReader(c).ReadString('\n')
				c.Close()
				if err != nil || !strings.HasPrefix(line, "HTTP/1.1 101 ") {
					b.Errorf("upgrade: %q %v", line, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
