#!/bin/sh
# tls-bench.sh BIN: TLS at the node against plain ws and against HAProxy
# terminating TLS in front of the node, side by side in one run (make
# bench-tls). BIN holds wsnode and wsbench (make build). Every server is
# fresh per case, on 127.0.0.1 with 2 loops; the certificate is ECDSA
# P-256; clients verify it (--ca).
#
#   idle        IDLE connections opened at IDLE_RAMP/s and held 10 s with no
#               traffic (node ws, node wss; IDLE_HAPROXY through HAProxy,
#               which holds two descriptors per connection and a process
#               may hold 20,000): server RSS growth per connection
#   broadcast   BCAST /chat users, 20 senders at 40 messages/s, 1 KiB
#               messages, 10 s: server CPU seconds per million deliveries
#   handshakes  STORM connects at RAMP/s, held 1 s: server CPU per
#               connection, and connections per CPU-second
#
# The handshake cases run twice: with Go's default key exchange
# (X25519MLKEM768, which Chromium offers too) and with GODEBUG=tlsmlkem=0
# on the client (X25519 alone, what HAProxy 2.6's OpenSSL 3.0 offers), so
# that the HAProxy comparison is like for like. Without haproxy installed
# its rows are left out. SECTIONS="idle broadcast handshakes" (the
# default) picks the parts. Output: markdown tables on stdout.
set -eu
bin=${1:-bin}
IDLE=${IDLE:-15000}
IDLE_HAPROXY=${IDLE_HAPROXY:-9000}
BCAST=${BCAST:-2000}
STORM=${STORM:-4000}
RAMP=${RAMP:-1000}
IDLE_RAMP=${IDLE_RAMP:-500}
SECTIONS=${SECTIONS:-idle broadcast handshakes}
want() { case " $SECTIONS " in *" $1 "*) return 0 ;; esac; return 1; }
d=$(mktemp -d)
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	rm -rf "$d"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null
cat "$d/cert.pem" "$d/key.pem" >"$d/haproxy.pem"
have_haproxy=
command -v haproxy >/dev/null && have_haproxy=1

# node ARGS...: start a node; sets node (pid) and addr.
node() {
	"$bin/wsnode" --addr 127.0.0.1:0 --loops 2 --chat-rate 0 --ping-period 0 --timeout 10m --handshake-timeout 60s "$@" 2>"$d/node.log" &
	node=$!
	pids="$pids $node"
	addr=
	while [ -z "$addr" ]; do
		sleep 0.1
		addr=$(sed -n 's/.*msg=listening addr=\([0-9.:]*\).*/\1/p' "$d/node.log")
	done
}

# haproxy BACKEND: HAProxy terminating TLS on a free port in front of
# BACKEND (plain ws); sets hap (pid) and haddr.
haproxy_front() {
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	cat >"$d/haproxy.cfg" <<EOF
global
	maxconn 9800
	nbthread 2
defaults
	mode http
	timeout connect 5s
	timeout client 10m
	timeout server 10m
	timeout tunnel 10m
frontend wss
	bind 127.0.0.1:$port ssl crt $d/haproxy.pem alpn http/1.1
	default_backend node
backend node
	server n $1 maxconn 9800
EOF
	haproxy -f "$d/haproxy.cfg" -db >"$d/haproxy.log" 2>&1 &
	hap=$!
	pids="$pids $hap"
	haddr=127.0.0.1:$port
	sleep 0.5
}

stop() {
	for p in "$@"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}

# bench OUT ARGS...: one wsbench run, its JSON report in $d/OUT.json.
bench() {
	out=$1
	shift
	"$bin/wsbench" "$@" -q --json --ca "$d/cert.pem" --handshake-timeout 60s >"$d/$out.json" 2>"$d/$out.err" || true
}

# field OUT EXPR: a figure from a report (the servers' sum entry).
field() {
	python3 - "$d/$1.json" "$2" <<'EOF'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except Exception:
    print("?"); sys.exit()
srv = r.get("servers") or [{}]
s = next((x for x in srv if x.get("pid") == 0), srv[0])
c = r.get("conns", {})
ok = c.get("connected", 0)
v = {"rss": s.get("rss_bytes_per_conn", 0), "cpu_million": s.get("cpu_sec_per_million_msgs", 0),
     "cpu": s.get("cpu_seconds", 0), "ok": ok, "failed": c.get("failed", 0),
     "loss": (r.get("messages") or {}).get("loss_pct", 0),
     "tls_p50": ((c.get("tls_handshake_time") or {}).get("p50_us", 0)) / 1000,
     "connect_p50": ((c.get("connect_time") or {}).get("p50_us", 0)) / 1000}
e = sys.argv[2]
if e == "cpu_per_conn":
    print("%.0f" % (v["cpu"] / ok * 1e6) if ok else "?")
elif e == "per_core_sec":
    print("%.0f" % (ok / v["cpu"]) if v["cpu"] else "?")
elif e == "rss":
    print("%.0f" % v["rss"])
elif e in ("cpu_million", "loss"):
    print("%.2f" % v[e])
elif e in ("tls_p50", "connect_p50"):
    print("%.1f" % v[e])
else:
    print(v[e])
EOF
}

echo "## TLS at the node (make bench-tls, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
echo

# --- idle connections ---
if want idle; then
node
bench idle_ws connect -c "$IDLE" --ramp "$IDLE_RAMP" --duration 10s --ping-period -1s --url "ws://$addr/echo" --server-pid "$node"
stop "$node"
node --tls-cert "$d/cert.pem" --tls-key "$d/key.pem"
bench idle_wss connect -c "$IDLE" --ramp "$IDLE_RAMP" --duration 10s --ping-period -1s --url "wss://$addr/echo" --server-pid "$node"
stop "$node"
if [ -n "$have_haproxy" ]; then
	node
	haproxy_front "$addr"
	bench idle_hap connect -c "$IDLE_HAPROXY" --ramp "$IDLE_RAMP" --duration 10s --ping-period -1s --url "wss://$haddr/echo" --server-pid "$hap,$node"
	stop "$hap" "$node"
fi
echo "### Idle connections: server RSS growth per connection"
echo
echo "| what holds the connection | connections | per connection |"
echo "|---|---:|---:|"
echo "| the node, plain ws:// | $(field idle_ws ok) | $(field idle_ws rss) B |"
echo "| the node, wss:// (TLS 1.3, its own record layer) | $(field idle_wss ok) | $(field idle_wss rss) B |"
[ -n "$have_haproxy" ] && echo "| HAProxy $(haproxy -v | sed -n 's/HAProxy version \([0-9.]*\).*/\1/p') terminating TLS + the node (ws) | $(field idle_hap ok) | $(field idle_hap rss) B |"
echo
fi

# --- broadcast ---
if want broadcast; then
bargs="-c $BCAST --senders 20 --rate 40 --payload 1024 --duration 10s"
node
bench b_ws broadcast $bargs --url "ws://$addr/chat" --server-pid "$node"
stop "$node"
node --tls-cert "$d/cert.pem" --tls-key "$d/key.pem"
bench b_wss broadcast $bargs --url "wss://$addr/chat" --server-pid "$node"
stop "$node"
if [ -n "$have_haproxy" ]; then
	node
	haproxy_front "$addr"
	bench b_hap broadcast $bargs --url "wss://$haddr/chat" --server-pid "$hap,$node"
	stop "$hap" "$node"
fi
echo "### Broadcast to $BCAST users, 1 KiB: server CPU seconds per million deliveries"
echo
echo "| server | CPU s / 1M deliveries | loss |"
echo "|---|---:|---:|"
echo "| the node, ws:// | $(field b_ws cpu_million) | $(field b_ws loss) % |"
echo "| the node, wss:// | $(field b_wss cpu_million) | $(field b_wss loss) % |"
[ -n "$have_haproxy" ] && echo "| HAProxy + the node (ws) | $(field b_hap cpu_million) | $(field b_hap loss) % |"
echo
fi

# --- handshakes ---
hs() { # LABEL GODEBUG
	node
	GODEBUG=$2 bench "h_ws_$1" connect -c "$STORM" --ramp "$RAMP" --duration 1s --url "ws://$addr/echo" --server-pid "$node"
	stop "$node"
	node --tls-cert "$d/cert.pem" --tls-key "$d/key.pem"
	GODEBUG=$2 bench "h_wss_$1" connect -c "$STORM" --ramp "$RAMP" --duration 1s --url "wss://$addr/echo" --server-pid "$node"
	stop "$node"
	if [ -n "$have_haproxy" ]; then
		node
		haproxy_front "$addr"
		GODEBUG=$2 bench "h_hap_$1" connect -c "$STORM" --ramp "$RAMP" --duration 1s --url "wss://$haddr/echo" --server-pid "$hap"
		stop "$hap" "$node"
	fi
}
if want handshakes; then
hs mlkem ""
hs x25519 tlsmlkem=0
echo "### Handshakes: $STORM connects at $RAMP/s (ECDSA P-256), server CPU"
echo
echo "| server | key exchange | CPU µs per connection | connections per CPU-second | TLS handshake p50 (client) |"
echo "|---|---|---:|---:|---:|"
echo "| the node, ws:// (no TLS: the upgrade alone) | - | $(field h_ws_mlkem cpu_per_conn) | $(field h_ws_mlkem per_core_sec) | - |"
for kx in mlkem x25519; do
	name=X25519MLKEM768
	[ $kx = x25519 ] && name=X25519
	echo "| the node, wss:// (TLS + upgrade) | $name | $(field h_wss_$kx cpu_per_conn) | $(field h_wss_$kx per_core_sec) | $(field h_wss_$kx tls_p50) ms |"
	# HAProxy 2.6 (OpenSSL 3.0) has no ML-KEM: it takes the client's X25519 share either way.
	[ -n "$have_haproxy" ] && echo "| HAProxy alone (TLS only; the node's upgrade not counted), client offering $name | X25519 | $(field h_hap_$kx cpu_per_conn) | $(field h_hap_$kx per_core_sec) | $(field h_hap_$kx tls_p50) ms |"
done
echo
fi
echo "Failures (should all be 0): $(for f in "$d"/*.json; do printf '%s=%s ' "$(basename "$f" .json)" "$(field "$(basename "$f" .json)" failed)"; done)"
