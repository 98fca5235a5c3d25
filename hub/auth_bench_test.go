package hub_test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"edgews/engine"
	"edgews/engine/enginetest"
	"edgews/hub"
	"edgews/hub/auth"
	"github.com/golang-jwt/jwt/v5"
)

// BenchmarkConnectAuth measures upgrades per second over loopback sockets
// with auth off, HS256 and RS256 tokens, side by side in one run: each
// op dials, sends the upgrade request with ?token=, reads the 101 and
// closes, on GOMAXPROCS parallel clients against a 2-loop node in the same
// process. Compare connects/s between the sub-benchmarks (the client's
// share of the CPU is the same in each).
func BenchmarkConnectAuth(b *testing.B) {
	clk := &fakeClock{t: authT0}
	pemKey := testRSAPEM(b)
	for _, tc := range []struct {
		name string
		tok  func() string
	}{
		{"off", nil},
		{"HS256", func() string { return token(b, jwt.MapClaims{"sub": "bench"}) }},
		{"RS256", func() string {
			t := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": "bench", "exp": authT0.Add(time.Hour).Unix()})
			t.Header["kid"] = "k1"
			s, err := t.SignedString(testRSA(b))
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := hub.Config{Shards: 4}
			target := "/echo"
			if tc.tok != nil {
				v, err := auth.New(auth.Config{Mode: auth.Required, HMACSecret: testSecret, PublicKeys: pemKey, Now: clk.now})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(v.Close)
				cfg.Auth = v
				target += "?token=" + tc.tok()
			}
			srv := engine.New(engine.Config{Addr: "127.0.0.1:0", Loops: 2})
			hub.New(srv, cfg)
			enginetest.Start(b, srv)
			req := strings.Replace("GET %s HTTP/1.1\r\nHost: b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", "%s", target, 1)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					c, err := net.Dial("tcp", srv.Addr().String())
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
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "connects/s")
		})
	}
}
