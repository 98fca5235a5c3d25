package engine_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"edgews/engine"
	"edgews/engine/enginetest"
)

// pythonClient is a python3-websockets client: it connects with
// compression (the library's default, offered as
// "permessage-deflate; client_max_window_bits"), checks that the extension
// was negotiated, sends a text and a binary message it compresses, and
// checks the echoes, which the node sends compressed.
const pythonClient = `
import asyncio, sys, websockets

async def main(url):
    async with websockets.connect(url, compression="deflate") as ws:
        names = [e.name for e in ws.extensions]
        if names != ["permessage-deflate"]:
            sys.exit("extensions: %r" % names)
        for msg in ["python says hello to the node " * 20, bytes(range(256)) * 4]:
            await ws.send(msg)
            got = await asyncio.wait_for(ws.recv(), 5)
            if got != msg:
                sys.exit("echo differs: %r" % got[:40])
    print("ok")

asyncio.run(main(sys.argv[1]))
`

// python3 returns a python3 with the websockets package: /usr/bin/python3
// first (the Debian package python3-websockets installs there; another
// python3 may come first on PATH). Missing, the test fails in CI (.ci/run
// installs it) and is skipped elsewhere.
func python3(t *testing.T) string {
	t.Helper()
	cands := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		cands = append(cands, p)
	}
	for _, p := range cands {
		if exec.Command(p, "-c", "import websockets").Run() == nil {
			return p
		}
	}
	enginetest.Missing(t, "python3 with websockets not found; install it (apt-get install python3-websockets) to run the permessage-deflate interop test")
	return ""
}

func TestDeflatePythonWebsockets(t *testing.T) {
	py := python3(t)
	srv, _ := echoServer(t, engine.Config{Compression: true})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-c", pythonClient, wsURL(srv, "/echo")).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("python client: %v\n%s", err, out)
	}
	st := srv.Stats()
	if st.DeflateConns != 1 || st.InflateErrors != 0 {
		t.Fatalf("DeflateConns %d, InflateErrors %d; want 1 and 0", st.DeflateConns, st.InflateErrors)
	}
}
