#!/usr/bin/env bash
# bench/backend.sh BIN: the server API and events against a loaded chat
# (make bench-backend). Every figure comes from runs made in turn on the same
# machine; the node, wsbench, backendload and the events receiver share it.
#
#   1. events off vs on (a receiver taking them): server CPU per chat
#      message and delivery p99 (wsbench broadcast, CONNS users, RATE msg/s;
#      CPU from /proc over WINDOW seconds of the send phase)
#   2. events on, the receiver down for the whole run vs up: CPU, p99
#   3. API calls beside the chat (API_RATE/s, publish into an empty room and
#      presence, in turn: of an empty room, or of the loaded one): chat p99
#      without and with, API p99 by method
#   4. a notice published through the API into a room of BIG users vs a
#      user's message into it, at the same rate: server CPU per delivery
#
# RUNS (3) repeats 1, 3 and 4 with the settings interleaved; PARTS ("1 2 3 4")
# picks the parts to run.
set -euo pipefail
bin=${1:-bin}
runs=${RUNS:-3}
conns=${CONNS:-1000}
rate=${RATE:-50}
api_rate=${API_RATE:-1000}
big=${BIG:-10000}
big_rate=${BIG_RATE:-20}
dur=${DURATION:-10s}
parts=" ${PARTS:-1 2 3 4} "
part() { [[ $parts == *" $1 "* ]]; }
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
head -c 32 /dev/urandom | base64 >"$tmp/key"
cp "$tmp/key" "$tmp/secret"
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

# node ARGS...: starts a node on $port, sets $node
node() {
	port=$(free)
	"$bin/wsnode" --addr "127.0.0.1:$port" --chat-rate 0 --log-level warn "$@" 2>>"$tmp/node.log" &
	node=$!
	pids+=("$node")
	wait_port "$port"
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# receiver: starts an events receiver on $rport, sets $recv
receiver() {
	"$bin/backendload" receive --addr "127.0.0.1:$rport" --secret-file "$tmp/secret" >>"$tmp/recv.log" &
	recv=$!
	pids+=("$recv")
	wait_port "$rport"
}

# bcast OUT ARGS...: wsbench broadcast against the node, JSON report to OUT
bcast() {
	local out=$1
	shift
	"$bin/wsbench" broadcast --url "ws://127.0.0.1:$port" --server-pid "$node" -q --json --duration "$dur" "$@" >"$out" 2>>"$tmp/bench.log"
}

# field FILE: "p99_ms loss" of a report
field() {
	python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print("%.2f %d" % (r["latency"]["p99_us"] / 1000, r["messages"]["lost"]))' "$1"
}

# The node's CPU is read from /proc over a window of the send phase (after
# the users' ramp, before the drain), so that connects do not count:
# window OUT ARGS... runs bcast OUT ARGS... and sets $cpu (seconds).
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
win=${WINDOW:-6}
window() {
	bcast "$@" &
	local b=$!
	sleep "${RAMP_WAIT:-2}"
	local t0 t1
	t0=$(ticks "$node")
	sleep "$win"
	t1=$(ticks "$node")
	wait "$b"
	cpu=$(python3 -c "import sys; print((int(sys.argv[2]) - int(sys.argv[1])) / 100)" "$t0" "$t1")
}
per_msg() { python3 -c "import sys; print('%.0f' % (float(sys.argv[1]) * 1e6 / (float(sys.argv[2]) * float(sys.argv[3]))))" "$cpu" "$rate" "$win"; }

rport=$(free)
if part 1 || part 2; then
	receiver
fi
if part 1; then
echo "## events off vs on: $conns users, $rate msg/s, $dur (node CPU per message sent, delivery p99)"
for i in $(seq "$runs"); do
	for mode in off on; do
		args=()
		[ "$mode" = on ] && args=(--events-url "http://127.0.0.1:$rport/" --events-secret-file "$tmp/secret")
		node "${args[@]}"
		window "$tmp/ev-$mode-$i.json" -c "$conns" --senders 20 --rate "$rate"
		stop "$node"
		read -r p99 lost < <(field "$tmp/ev-$mode-$i.json")
		echo "run $i events $mode: $(per_msg) us CPU/message ($cpu s over ${win} s), p99 ${p99} ms, lost $lost"
	done
done
fi

if part 2; then
echo "## events on, the receiver down for the run vs up"
for i in $(seq "$runs"); do
	for state in up down; do
		if [ "$state" = down ]; then stop "$recv"; else [ -e "/proc/$recv" ] || receiver; fi
		node --events-url "http://127.0.0.1:$rport/" --events-secret-file "$tmp/secret"
		window "$tmp/down-$state-$i.json" -c "$conns" --senders 20 --rate "$rate"
		stop "$node"
		read -r p99 lost < <(field "$tmp/down-$state-$i.json")
		echo "run $i receiver $state: $(per_msg) us CPU/message, p99 ${p99} ms, lost $lost"
	done
done
fi

if part 3; then
echo "## API calls beside the chat: $api_rate/s, publish (into an empty room) and presence in turn; presence of an empty room, or of the $conns-user room"
for i in $(seq "$runs"); do
	for mode in without empty full; do
		aport=$(free)
		node --api-addr "127.0.0.1:$aport" --api-key-file "$tmp/key"
		load=""
		if [ "$mode" != without ]; then
			presence=news
			[ "$mode" = full ] && presence=lobby
			# The load starts once the users are in (the ramp takes about a second).
			(sleep 2 && "$bin/backendload" api --url "http://127.0.0.1:$aport" --key-file "$tmp/key" --rate "$api_rate" \
				--duration "$dur" --mix publish,presence --room "$presence" --publish-room news >"$tmp/api-$i.txt") &
			load=$!
		fi
		bcast "$tmp/api-$mode-$i.json" -c "$conns" --senders 20 --rate "$rate"
		[ -n "$load" ] && wait "$load"
		stop "$node"
		read -r p99 lost < <(field "$tmp/api-$mode-$i.json")
		extra=""
		[ "$mode" != without ] && extra=" | API: $(cat "$tmp/api-$i.txt")"
		echo "run $i API calls $mode: chat p99 ${p99} ms, lost $lost$extra"
	done
done
fi

if part 4; then
echo "## a notice through the API vs a user's message, into a room of $big users at $big_rate/s"
# CPU per delivery = the node's CPU over 5 s of steady sending (after the
# users' ramp) / (rate x 5 s x users).
for i in $(seq "$runs"); do
	for mode in message notice; do
		aport=$(free)
		node --api-addr "127.0.0.1:$aport" --api-key-file "$tmp/key"
		if [ "$mode" = notice ]; then
			(sleep 7 && "$bin/backendload" api --url "http://127.0.0.1:$aport" --key-file "$tmp/key" --rate "$big_rate" \
				--duration 10s --mix publish --room lobby >"$tmp/big-$i.txt") &
			bg=($!)
			bcast "$tmp/big-$mode-$i.json" -c "$big" --ramp 2000 --senders 1 --rate 0.1 --duration 14s &
			bg+=($!)
		else
			bcast "$tmp/big-$mode-$i.json" -c "$big" --ramp 2000 --senders 1 --rate "$big_rate" --duration 14s &
			bg=($!)
		fi
		sleep 9
		t0=$(ticks "$node")
		sleep 5
		t1=$(ticks "$node")
		wait "${bg[@]}"
		stop "$node"
		python3 -c "import sys; t=(int(sys.argv[2])-int(sys.argv[1]))/100; print('run %s %ss: %.1f ns CPU/delivery (%.2f s CPU over 5 s)' % (sys.argv[3], sys.argv[4], t*1e9/(float(sys.argv[5])*5*int(sys.argv[6])), t))" "$t0" "$t1" "$i" "$mode" "$big_rate" "$big"
	done
done
fi
