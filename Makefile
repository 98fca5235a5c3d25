# edgews: an edge WebSocket node on gnet v2 + gobwas/ws.
GO       ?= go
FUZZTIME ?= 15s
ADDR     ?= :8080
# staticcheck, pinned; `go run pkg@version` builds it once from the module
# proxy and caches the binary, so a fresh machine needs nothing but Go.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: help build run run-cluster bench-cluster test fuzz stress bench lint bench-compare bench-scale bench-auth bench-attack

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-15s %s\n", $$1, $$2}'

build: ## build wsnode, wsbench and wschat into bin/
	$(GO) build -ldflags "-X main.version=$$(git describe --always --dirty 2>/dev/null || echo dev)" -o bin/ ./cmd/...

run: ## start the node on $(ADDR): /echo, /chat
	$(GO) run ./cmd/wsnode --addr $(ADDR)

NATS_ADDR ?= 127.0.0.1:4222
run-cluster: ## three nodes on :8081 :8082 :8083, one embedding NATS (JetStream) on $(NATS_ADDR); Ctrl-C stops all
	@$(GO) build -o bin/ ./cmd/wsnode
	@store=$$(mktemp -d); \
	trap 'kill $$pids 2>/dev/null; wait; rm -rf $$store; echo; echo "cluster stopped"' INT TERM EXIT; \
	bin/wsnode --addr 127.0.0.1:8081 --node-id node1 --nats-embed $(NATS_ADDR) --nats-store $$store & pids=$$!; \
	sleep 1; \
	bin/wsnode --addr 127.0.0.1:8082 --node-id node2 --nats nats://$(NATS_ADDR) & pids="$$pids $$!"; \
	bin/wsnode --addr 127.0.0.1:8083 --node-id node3 --nats nats://$(NATS_ADDR) & pids="$$pids $$!"; \
	sleep 1; \
	echo; echo "one chat on three nodes: open each in a browser tab"; \
	echo "  http://127.0.0.1:8081/   (embeds NATS on $(NATS_ADDR))"; \
	echo "  http://127.0.0.1:8082/"; \
	echo "  http://127.0.0.1:8083/"; \
	echo "Ctrl-C stops all three"; \
	wait

bench-cluster: build ## one node vs nats-server (built from the pinned module) + 3 nodes: broadcast to 6,000 users in one room, light-load p99, idle RSS per /chat user with --nats off/on (3 runs each, medians); markdown table with cluster/single ratios (~4 min; CLUSTER_FLAGS="--rate 20" for more load)
	$(GO) build -o bin/ github.com/nats-io/nats-server/v2
	@mkdir -p reports
	bin/wsbench cluster --bin bin $(CLUSTER_FLAGS) | tee reports/cluster.md

test: lint ## lint, race tests, allocation tests and the JetStream on/off tests (without -race: see hub/cluster/toggle_test.go), bounded fuzzing (under 10 minutes on 2 cores)
	$(GO) test -race -count=1 ./...
	$(GO) test -count=1 -run 'Alloc|JetStreamToggle' ./...
	cd bench/peers && $(GO) test -race -count=1 ./...
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZTIME) ./codec
	$(GO) test -run='^$$' -fuzz='^FuzzInflate$$' -fuzztime=$(FUZZTIME) ./codec
	$(GO) test -run='^$$' -fuzz='^FuzzHandshake$$' -fuzztime=$(FUZZTIME) ./engine
	$(GO) test -run='^$$' -fuzz='^FuzzParseCommand$$' -fuzztime=$(FUZZTIME) ./hub
	$(GO) test -run='^$$' -fuzz='^FuzzToken$$' -fuzztime=$(FUZZTIME) ./hub/auth

fuzz: FUZZTIME = 10m
fuzz: ## longer fuzzing of the decoder, the handshake, the chat's JSON commands and auth tokens (FUZZTIME each, default 10m)
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZTIME) ./codec
	$(GO) test -run='^$$' -fuzz='^FuzzInflate$$' -fuzztime=$(FUZZTIME) ./codec
	$(GO) test -run='^$$' -fuzz='^FuzzHandshake$$' -fuzztime=$(FUZZTIME) ./engine
	$(GO) test -run='^$$' -fuzz='^FuzzParseCommand$$' -fuzztime=$(FUZZTIME) ./hub
	$(GO) test -run='^$$' -fuzz='^FuzzToken$$' -fuzztime=$(FUZZTIME) ./hub/auth

STRESS ?= 1m
stress: ## the engine's stress test (resets, evictions, drains, upgrades on one node) under -race for STRESS (1m)
	STRESS_DURATION=$(STRESS) $(GO) test -race -count=1 -run '^TestStress$$' -timeout 10m ./engine

bench: ## microbenchmarks with -benchmem (decoder MB/s, broadcast ns/delivery)
	$(GO) test -run='^$$' -bench=. -benchmem ./codec ./hub ./engine | tee bench.txt

COMPARE_FLAGS ?=
bench-compare: build ## node vs gorilla, gws, nbio: echo C=1000 P=1KiB (closed loop for msgs/s, open loop at 5,000/s for latency), broadcast N=10,000, idle /echo and /chat N=50,000, compressed echo and broadcast (N=2,000, 1 KiB chat-like JSON) (COMPARE_FLAGS="--connect-conns 15000": one process); markdown table (~12 min)
	cd bench/peers && $(GO) build -o ../../bin/ ./cmd/...
	mkdir -p reports
	bin/wsbench compare --bin bin --reports reports/compare $(COMPARE_FLAGS) | tee reports/compare.md

bench-auth: build ## token auth: connects/s off vs HS256 vs RS256, and echo p99 of connected users during a 2,000/s connect storm (~3 min)
	mkdir -p reports
	$(GO) test -run='^$$' -bench='^BenchmarkConnectAuth$$' -benchtime=3000x -count=3 ./hub | tee reports/auth-connect.txt
	sh bench/auth-storm.sh bin | tee reports/auth-storm.md

CONNS ?= 100000
SCALE_PATH ?= /echo
bench-scale: build ## ramp to CONNS idle connections (default 100000) on SCALE_PATH (/echo; /chat) over SO_REUSEPORT node processes, probe echo latency
	mkdir -p reports
	bin/wsbench scale --bin bin --conns $(CONNS) --path $(SCALE_PATH) | tee reports/scale-$(CONNS)$(subst /,-,$(SCALE_PATH)).md

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

lint: ## go vet and staticcheck (pinned v0.8.2) on the node's module and bench/peers: zero findings
	$(GO) vet ./...
	$(STATICCHECK) ./...
	cd bench/peers && $(GO) vet ./... && $(STATICCHECK) ./...
