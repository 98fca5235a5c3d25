#!/bin/sh
# bench/cluster.sh (make bench-cluster): the same broadcast run against one
# node and against a cluster of NATS plus three node processes on this
# machine; CONNS users in one room, senders at a rate one node handles.
# wsbench sums server CPU over every --server-pid (the nodes and NATS).
# Then idle memory per connection with and without --nats.
set -eu
BIN=${BIN:-bin}
CONNS=${CONNS:-6000}
SENDERS=${SENDERS:-20}
RATE=${RATE:-20}
DURATION=${DURATION:-10s}
LIGHT_RATE=${LIGHT_RATE:-2}
IDLE_LO=${IDLE_LO:-4000}
IDLE=${IDLE:-14000}
NATS_PORT=${NATS_PORT:-14222}

dir=$(mktemp -d)
pids=""
cleanup() {
	# shellcheck disable=SC2086
	[ -n "$pids" ] && kill $pids 2>/dev/null
	wait 2>/dev/null || true
	rm -rf "$dir"
	true # the script's status is not the cleanup's
}
trap cleanup EXIT INT TERM

healthy() { # wait for a node's /healthz (metrics port) to say 200
	for _ in $(seq 100); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$1/healthz" || true)" = 200 ] && return 0
		sleep 0.1
	done
	echo "node $1 not healthy" >&2
	exit 1
}

node() { # node PORT [flags...]: start a node, print its pid
	port=$1
	shift
	"$BIN/wsnode" --addr "127.0.0.1:$port" --metrics-addr "127.0.0.1:$((port + 100))" --log-level warn "$@" >>"$dir/nodes.log" 2>&1 &
	echo $!
}

gone() { # wait until the processes have exited (they are not this shell's children)
	for p in "$@"; do
		while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
	done
}

stopall() {
	# shellcheck disable=SC2086
	kill $pids 2>/dev/null || true
	# shellcheck disable=SC2086
	gone $pids
	pids=""
}

broadcast() { # broadcast LABEL URLS PIDS
	echo
	echo "### $1"
	"$BIN/wsbench" broadcast --url "$2" -c "$CONNS" --senders "$SENDERS" --rate "$RATE" --duration "$DURATION" --server-pid "$3"
	echo
	echo "### $1, light load: $LIGHT_RATE msg/s"
	"$BIN/wsbench" broadcast --url "$2" -c "$CONNS" --senders "$SENDERS" --rate "$LIGHT_RATE" --duration "$DURATION" --server-pid "$3"
}

echo "## broadcast: $CONNS users in one room, $SENDERS senders, $RATE msg/s ($(($CONNS * $RATE)) deliveries/s offered), $DURATION"

single=$(node 18100)
pids=$single
healthy 127.0.0.1:18200
broadcast "one node" "ws://127.0.0.1:18100" "$single"
stopall

"$BIN/nats-server" -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$dir/js" >"$dir/nats.log" 2>&1 &
nats=$!
pids=$nats
sleep 0.5
n1=$(node 18101 --nats "nats://127.0.0.1:$NATS_PORT" --node-id bench1)
n2=$(node 18102 --nats "nats://127.0.0.1:$NATS_PORT" --node-id bench2)
n3=$(node 18103 --nats "nats://127.0.0.1:$NATS_PORT" --node-id bench3)
pids="$pids $n1 $n2 $n3"
for p in 18201 18202 18203; do healthy "127.0.0.1:$p"; done
broadcast "NATS + 3 nodes (CPU: the nodes and nats-server)" "ws://127.0.0.1:18101,ws://127.0.0.1:18102,ws://127.0.0.1:18103" "$n1,$n2,$n3,$nats"
stopall

echo
echo "## idle memory per connection: $IDLE_LO and $IDLE connections, one node, without and with --nats"
echo "(per connection = the RSS difference between the two sizes over $(($IDLE - $IDLE_LO)): fixed costs cancel out)"
idle() { # idle LABEL [flags...]
	label=$1
	shift
	for n in "$IDLE_LO" "$IDLE"; do
		p=$(node 18101 "$@")
		pids="$pids $p"
		healthy 127.0.0.1:18201
		echo
		echo "### $label, $n connections"
		"$BIN/wsbench" connect --url ws://127.0.0.1:18101/chat -c "$n" --hold 3s --server-pid "$p" | grep -E "connections|server pid"
		kill "$p"
		gone "$p"
	done
}
idle "without --nats"
"$BIN/nats-server" -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$dir/js2" >"$dir/nats.log" 2>&1 &
nats=$!
pids="$nats"
idle "with --nats" --nats "nats://127.0.0.1:$NATS_PORT"
