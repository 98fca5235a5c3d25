#!/bin/sh
# auth-storm.sh BIN: the cost of token auth, side by side in one run.
#
# For each case a fresh node (2 loops) on 127.0.0.1 holds 100 echo users
# while a connect storm opens STORM connections at RAMP per second; the
# echo round trip of the connected users is measured only while the storm
# runs. Cases: no storm (baseline), storm with --auth off, storm with
# HS256 and RS256 tokens under --auth required (every echo user and every
# storm connection carries a token). BIN holds wsnode and wsbench
# (make build). The cases run interleaved REPEAT times (default 3); the
# summary gives each case's median echo p99. Tokens are printed nowhere.
set -eu
bin=${1:-bin}
STORM=${STORM:-10000}
RAMP=${RAMP:-2000}
REPEAT=${REPEAT:-3}
d=$(mktemp -d)
node=
cleanup() { [ -n "$node" ] && kill "$node" 2>/dev/null; rm -rf "$d"; }
trap cleanup EXIT

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/rsa.pem" 2>/dev/null
openssl pkey -in "$d/rsa.pem" -pubout | sed '1a kid: k1\n' > "$d/keys.pem"
head -c 32 /dev/urandom | base64 > "$d/secret"
rs=$("$bin/wsnode" token --private-key "$d/rsa.pem" --kid k1 --sub bench --ttl 1h)
hs=$("$bin/wsnode" token --hmac-secret-file "$d/secret" --sub bench --ttl 1h)

# run LABEL STORM-TOKEN NODE-ARGS...: one case.
run() {
	label=$1 tok=$2
	shift 2
	"$bin/wsnode" --addr 127.0.0.1:0 --loops 2 "$@" 2>"$d/node.log" &
	node=$!
	addr=
	while [ -z "$addr" ]; do
		sleep 0.1
		addr=$(sed -n 's/.*msg=listening addr=\([0-9.:]*\).*/\1/p' "$d/node.log")
	done
	q=
	[ -n "$tok" ] && q="?token=$tok"
	sp=
	if [ "$STORM" -gt 0 ]; then
		"$bin/wsbench" connect -q -c "$STORM" --ramp "$RAMP" --duration 1s -url "ws://$addr/echo$q" >"$d/storm.txt" 2>&1 &
		sp=$!
		sleep 0.5 # the storm is under way; the echo runs inside it
	fi
	secs=$(awk "BEGIN { d = $STORM / $RAMP - 1; if (d < 2) d = 2; print int(d) }")
	"$bin/wsbench" echo -q -c 100 --duration "${secs}s" -url "ws://$addr/echo$q" >"$d/echo.txt" 2>&1 || true
	[ -n "$sp" ] && wait "$sp" || true
	kill "$node"
	wait "$node" || true
	node=
	printf '\n### %s\n' "$label"
	grep -E '^(round trip|messages|connections)' "$d/echo.txt" | sed 's/^/echo   /'
	if [ -n "$sp" ]; then
		grep -E '^(connections|connect time|  failed)' "$d/storm.txt" | sed 's/^/storm  /'
	fi
	p99=$(sed -n 's/^round trip.* p99 \([0-9.]*\)\(m\{0,1\}s\|µs\).*/\1 \2/p' "$d/echo.txt" |
		awk '{ v = $1; if ($2 == "s") v *= 1000; if ($2 == "µs") v /= 1000; print v }')
	echo "$label|${p99:-?}" >>"$d/summary"
}

echo "# auth-storm: echo of 100 connected users during a connect storm of $STORM at $RAMP/s ($(nproc) cores, $REPEAT rounds)"
STORM0=$STORM
for round in $(seq "$REPEAT"); do
	echo
	echo "## round $round"
	STORM=0 run "no storm, --auth off" ""
	STORM=$STORM0
	run "storm, --auth off" ""
	run "storm, --auth required, HS256" "$hs" --auth required --auth-hmac-secret-file "$d/secret"
	run "storm, --auth required, RS256 on the loops (--auth-workers 0)" "$rs" --auth required --auth-public-keys "$d/keys.pem" --auth-workers 0
	run "storm, --auth required, RS256 off the loops (default: a worker per core)" "$rs" --auth required --auth-public-keys "$d/keys.pem"
done
echo
echo "| case | echo p99 (ms), median of $REPEAT | each round |"
echo "|---|---|---|"
awk -F'|' '{ v[$1] = v[$1] " " $2; n[$1]++; if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
	END { for (i = 1; i <= k; i++) { c = order[i]; split(v[c], a, " "); m = n[c]
		for (x = 1; x <= m; x++) for (y = x + 1; y <= m; y++) if (a[y] + 0 < a[x] + 0) { t = a[x]; a[x] = a[y]; a[y] = t }
		printf "| %s | %s |%s |\n", c, a[int((m + 1) / 2)], v[c] } }' "$d/summary"
