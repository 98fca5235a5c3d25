# edgews: an edge WebSocket node on gnet v2 + gobwas/ws.
GO       ?= go
FUZZTIME ?= 15s
ADDR     ?= :8080
# staticcheck, pinned; `go run pkg@version` builds it once from the module
# proxy and caches the binary, so a fresh machine needs nothing but Go.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: help build install uninstall run run-cluster bench-cluster test fuzz stress bench lint bench-compare bench-uws bench-scale bench-auth bench-attack bench-backend bench-tls

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-15s %s\n", $$1, $$2}'

# The version wsnode --version prints: the commit, from git.
VERSION_LDFLAGS = -X main.version=$$(git describe --always --dirty 2>/dev/null || echo dev)

build: ## build wsnode, wsbench and wschat into bin/
	$(GO) build -ldflags "$(VERSION_LDFLAGS)" -o bin/ ./cmd/...

# make install puts the commands in $(DESTDIR)$(BINDIR): ~/.local/bin by
# default, which a normal user can write (PREFIX=/usr/local needs root).
PREFIX ?= $(HOME)/.local
BINDIR ?= $(PREFIX)/bin
DESTDIR ?=
install: ## build wsnode, wsbench and wschat into BINDIR (PREFIX/bin; PREFIX = ~/.local; DESTDIR for packaging)
	@mkdir -p "$(DESTDIR)$(BINDIR)"
	$(GO) build -ldflags "$(VERSION_LDFLAGS)" -o "$(DESTDIR)$(BINDIR)/" ./cmd/...
	@echo "installed wsnode, wsbench and wschat in $(DESTDIR)$(BINDIR)"
	@[ -n "$(DESTDIR)" ] || case ":$$PATH:" in *":$(BINDIR):"*) ;; *) echo "$(BINDIR) is not on your PATH: add it (export PATH=\"$(BINDIR):\$$PATH\", e.g. in ~/.profile)";; esac

uninstall: ## remove what make install put in BINDIR
	rm -f "$(DESTDIR)$(BINDIR)/wsnode" "$(DESTDIR)$(BINDIR)/wsbench" "$(DESTDIR)$(BINDIR)/wschat"

run: ## start the node on $(ADDR): /echo, /chat
	$(GO) run ./cmd/wsnode --addr $(ADDR)

CLUSTER_PORTS ?= 8081 8082 8083
NATS_ADDR     ?= 127.0.0.1:4222
run-cluster: SHELL := /bin/bash
run-cluster: ## one chat on a node per CLUSTER_PORTS port (8081 8082 8083) of 127.0.0.1, the first embedding NATS (JetStream) on NATS_ADDR (127.0.0.1:4222); Ctrl-C stops all
	@ports=($(CLUSTER_PORTS)); nats=$(NATS_ADDR); \
	listening() { (exec 3<>/dev/tcp/$${1%:*}/$${1##*:}) 2>/dev/null; }; \
	for a in $${ports[@]/#/127.0.0.1:} $$nats; do \
		if listening $$a; then \
			echo "make run-cluster: $$a is taken by another program; pick free ports, e.g. make run-cluster CLUSTER_PORTS=\"9081 9082 9083\" NATS_ADDR=127.0.0.1:5222" >&2; exit 1; \
		fi; \
	done; \
	$(GO) build -o bin/ ./cmd/wsnode || exit 1; \
	store=$$(mktemp -d); pids=; \
	trap 'exit 130' INT TERM; \
	trap 'kill $$pids 2>/dev/null; wait; rm -rf $$store; echo; echo "cluster stopped"' EXIT; \
	up() { \
		for i in $$(seq 100); do listening $$1 && return 0; kill -0 $$2 2>/dev/null || break; sleep 0.1; done; \
		echo "make run-cluster: the node for $$1 did not start (its error is above)" >&2; exit 1; \
	}; \
	bin/wsnode --addr 127.0.0.1:$${ports[0]} --node-id node1 --nats-embed $$nats --nats-store $$store & pids=$$!; \
	up 127.0.0.1:$${ports[0]} $$!; \
	for i in $${!ports[@]}; do \
		[ $$i = 0 ] && continue; \
		bin/wsnode --addr 127.0.0.1:$${ports[i]} --node-id node$$((i+1)) --nats nats://$$nats & pids="$$pids $$!"; \
		up 127.0.0.1:$${ports[i]} $$!; \
	done; \
	echo; echo "one chat on $${#ports[@]} nodes: open each in a browser tab"; \
	for i in $${!ports[@]}; do echo "  http://127.0.0.1:$${ports[i]}/$$([ $$i = 0 ] && echo "   (embeds NATS on $$nats)")"; done; \
	echo "Ctrl-C stops all of them"; \
	wait

bench-cluster: build ## one node vs nats-server (built from the pinned module) + 3 nodes: broadcast to 6,000 users in one room, light-load p99, idle RSS per /chat user with --nats off/on (3 runs each, medians); markdown table with cluster/single ratios (~4 min; CLUSTER_FLAGS="--rate 20" for more load)
	$(GO) build -o bin/ github.com/nats-io/nats-server/v2
	@mkdir -p reports
	bin/wsbench cluster --bin bin $(CLUSTER_FLAGS) | tee reports/cluster.md

# make test runs each suite through .ci/testsummary, which prints what
# go test prints, plus each skipped test and its reason, and records them
# in TESTRECORD; the summary at the end lists what ran and what skipped.
TESTRECORD = bin/test-record.jsonl
# gotest LABEL [FLAGS]: go test -json, then go test's arguments, through testsummary
gotest = $(CURDIR)/bin/testsummary -record $(CURDIR)/$(TESTRECORD) -label $(1) $(2) -- $(3) $(GO) test -json
# Fuzzing runs on Go 1.27.3 (the go command fetches it from the module
# proxy once, 76 MB): Go 1.26's fuzz coordinator can fail a target with a
# bare "context deadline exceeded" when -fuzztime ends while a worker is
# still running an input (go.dev/issue/75804, fixed in 1.27).
FUZZGO = env GOTOOLCHAIN=go1.27.3
FUZZ_TARGETS = ./codec:FuzzDecode ./codec:FuzzInflate ./engine:FuzzHandshake ./hub:FuzzParseCommand ./hub/auth:FuzzToken ./codec/tlsrec:FuzzOpen
# fuzz-each CMD: each of FUZZ_TARGETS for FUZZTIME, run by CMD followed by go test's arguments ($$fn names the target)
fuzz-each = for t in $(FUZZ_TARGETS); do pkg=$${t%%:*} fn=$${t\#*:}; echo "== $$fn ($$pkg, $(FUZZTIME))"; \
	$(1) -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; done

test: lint ## lint, race tests (the docs' runnable blocks included), allocation tests and the JetStream on/off tests (without -race: see hub/cluster/toggle_test.go), bounded fuzzing (under 10 minutes on 2 cores); ends with what ran and what skipped itself, and why
	@mkdir -p bin && rm -f $(TESTRECORD) && $(GO) build -o bin/testsummary ./.ci/testsummary
	$(call gotest,"race tests") -race -count=1 ./... ./.ci/testsummary
	$(call gotest,"allocation and JetStream on/off tests") -count=1 -run 'Alloc|JetStreamToggle' ./...
	cd bench/peers && $(call gotest,"bench/peers race tests") -race -count=1 ./...
	@$(call fuzz-each,$(call gotest,"fuzz $$fn",-stream,$(FUZZGO)))
	@bin/testsummary -summary $(TESTRECORD)

fuzz: FUZZTIME = 10m
fuzz: ## longer fuzzing of each of FUZZ_TARGETS (the decoder, inflate, the handshake, the chat's JSON commands, auth tokens, the TLS record opener), FUZZTIME each (default 10m)
	@$(call fuzz-each,$(FUZZGO) $(GO) test)

STRESS ?= 1m
stress: ## the engine's stress test (resets, evictions, drains, upgrades on one node) under -race for STRESS (1m)
	STRESS_DURATION=$(STRESS) $(GO) test -race -count=1 -run '^TestStress$$' -timeout 10m ./engine

bench: ## microbenchmarks with -benchmem (decoder MB/s, broadcast ns/delivery)
	$(GO) test -run='^$$' -bench=. -benchmem ./codec ./codec/tlsrec ./hub ./engine | tee bench.txt

COMPARE_FLAGS ?=
# UWS_DIR: a uWebSockets checkout (USOCKETS_DIR: a uSockets one, if its
# submodule is not checked out); with it, bench-compare builds bin/uws from
# bench/uws/server.cpp and runs it as a fifth server (bench/uws/README.md).
UWS_DIR ?=
USOCKETS_DIR ?=
comma := ,
bench-compare: build ## node vs gorilla, gws, nbio (and uWebSockets with UWS_DIR=checkout): echo C=1000 P=1KiB (closed loop for msgs/s, open loop at 5,000/s for latency), broadcast N=10,000, idle /echo and /chat N=50,000, compressed echo and broadcast (N=2,000, 1 KiB chat-like JSON) (COMPARE_FLAGS="--connect-conns 15000": one process); markdown table (~12 min)
	cd bench/peers && $(GO) build -o ../../bin/ ./cmd/...
	$(if $(UWS_DIR),UWS_DIR="$(UWS_DIR)" USOCKETS_DIR="$(USOCKETS_DIR)" bench/uws/build.sh bin/uws)
	mkdir -p reports
	bin/wsbench compare --bin bin --servers wsnode,gorilla,gws,nbio$(if $(UWS_DIR),$(comma)uws) --reports reports/compare $(COMPARE_FLAGS) | tee reports/compare.md

UWS_FLAGS ?=
bench-uws: build ## the node (--loops 1, and its default loops) vs uWebSockets (UWS_DIR=checkout, one thread): echo C=1000 P=1KiB, broadcast N=2,000 at 100 msg/s, idle /echo N=15,000; 3 runs each in turn, medians (~8 min)
	@test -n "$(UWS_DIR)" || { echo "bench-uws: set UWS_DIR to a uWebSockets checkout (bench/uws/README.md)" >&2; exit 2; }
	UWS_DIR="$(UWS_DIR)" USOCKETS_DIR="$(USOCKETS_DIR)" bench/uws/build.sh bin/uws
	mkdir -p reports
	bin/wsbench compare --bin bin --servers "wsnode --loops 1,wsnode,uws" --scenarios echo,broadcast,connect \
		--broadcast-conns 2000 --broadcast-senders 50 --broadcast-rate 100 --connect-conns 15000 --repeat 3 \
		--reports reports/uws $(UWS_FLAGS) | tee reports/uws.md

bench-auth: build ## token auth: connects/s off vs HS256 vs RS256, and echo p99 of connected users during a 2,000/s connect storm (~3 min)
	mkdir -p reports
	$(GO) test -run='^$$' -bench='^BenchmarkConnectAuth$$' -benchtime=3000x -count=3 ./hub | tee reports/auth-connect.txt
	sh bench/auth-storm.sh bin | tee reports/auth-storm.md

bench-backend: build ## server API and events beside a loaded chat: events on/off CPU per message, receiver down, 1,000 API calls/s, a notice vs a message to 10,000 users (~8 min)
	$(GO) build -o bin/ ./bench/backendload
	mkdir -p reports
	bash bench/backend.sh bin | tee reports/backend.txt

CONNS ?= 100000
SCALE_PATH ?= /echo
SCALE_TLS ?=
bench-scale: build ## ramp to CONNS idle connections (default 100000) on SCALE_PATH (/echo; /chat) over SO_REUSEPORT node processes, probe echo latency (SCALE_TLS=1: all wss://, ECDSA P-256)
	mkdir -p reports
	@if [ -n "$(SCALE_TLS)" ]; then \
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
			-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout reports/scale-key.pem -out reports/scale-cert.pem 2>/dev/null; \
		bin/wsbench scale --bin bin --conns $(CONNS) --path $(SCALE_PATH) --tls-cert reports/scale-cert.pem --tls-key reports/scale-key.pem \
			--ca reports/scale-cert.pem | tee reports/scale-$(CONNS)$(subst /,-,$(SCALE_PATH))-tls.md; \
	else \
		bin/wsbench scale --bin bin --conns $(CONNS) --path $(SCALE_PATH) | tee reports/scale-$(CONNS)$(subst /,-,$(SCALE_PATH)).md; \
	fi

bench-tls: build ## TLS at the node: idle wss RSS per connection vs ws vs HAProxy in front (if installed), broadcast CPU per delivery, handshakes per CPU-second (~6 min; IDLE=15000)
	mkdir -p reports
	sh bench/tls-bench.sh bin | tee reports/tls.md

.PHONY: screenshots
screenshots: ## pictures of the chat page at desktop and phone sizes (headless Chromium) into docs/, as the README shows them
	$(GO) test -count=1 -run '^TestBrowserLayout$$' ./hub/web -screenshots $(CURDIR)/docs

BUDGET      ?= 67108864
ATTACK_ADDR ?= 127.0.0.1:18090
bench-attack: SHELL := /bin/bash
bench-attack: build ## both memory attacks of issue 15 (400 stalled 1 MB frames; 300 non-reading chat members, 3,000 lines), each against a fresh node with --memory-budget BUDGET (64 MiB); RSS before, peak, after 10 s (~1 min)
	mkdir -p reports
	@set -o pipefail; : > reports/attack.txt; : > reports/attack-node.log; \
	attack() { \
		bin/wsnode --addr $(ATTACK_ADDR) --chat-rate 0 --memory-budget $(BUDGET) 2>>reports/attack-node.log & pid=$$!; \
		for i in $$(seq 100); do (exec 3<>/dev/tcp/$(subst :,/,$(ATTACK_ADDR))) 2>/dev/null && break; sleep 0.1; done; \
		echo "node: bin/wsnode --chat-rate 0 --memory-budget $(BUDGET) (pid $$pid)" | tee -a reports/attack.txt; \
		bin/wsbench "$$@" --url ws://$(ATTACK_ADDR) -q --server-pid $$pid | tee -a reports/attack.txt; rc=$$?; \
		kill $$pid; wait $$pid; return $$rc; \
	}; \
	attack attack-inbound -c 400 --frame-size 1000000 --duration 10s && \
	attack attack-outbound -c 300 --lines 3000

lint: ## go vet and staticcheck (pinned v0.8.2) on the node's module (.ci/testsummary included: ./... skips dot directories) and bench/peers: zero findings
	$(GO) vet ./... ./.ci/testsummary
	$(STATICCHECK) ./... ./.ci/testsummary
	cd bench/peers && $(GO) vet ./... && $(STATICCHECK) ./...
