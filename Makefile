# edgews: an edge WebSocket node on gnet v2 + gobwas/ws.
GO       ?= go
FUZZTIME ?= 15s
ADDR     ?= :8080

.PHONY: help build run test fuzz bench lint

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-15s %s\n", $$1, $$2}'

build: ## build wsnode (and the other binaries) into bin/
	$(GO) build -o bin/ ./cmd/...

run: ## start the node on $(ADDR): /echo, /chat
	$(GO) run ./cmd/wsnode --addr $(ADDR)

test: ## vet, race tests, allocation tests, bounded fuzzing (under 10 minutes on 2 cores)
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...
	$(GO) test -count=1 -run 'Alloc' ./...
	cd bench/peers && $(GO) vet ./... && $(GO) test -race -count=1 ./...
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZTIME) ./codec
	$(GO) test -run='^$$' -fuzz='^FuzzHandshake$$' -fuzztime=$(FUZZTIME) ./engine
	$(GO) test -run='^$$' -fuzz='^FuzzParseCommand$$' -fuzztime=$(FUZZTIME) ./hub

fuzz: FUZZTIME = 10m
fuzz: ## longer fuzzing of the decoder, the handshake and the chat's JSON commands (FUZZTIME each, default 10m)
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZTIME) ./codec
	$(GO) test -run='^$$' -fuzz='^FuzzHandshake$$' -fuzztime=$(FUZZTIME) ./engine
	$(GO) test -run='^$$' -fuzz='^FuzzParseCommand$$' -fuzztime=$(FUZZTIME) ./hub

bench: ## microbenchmarks with -benchmem (decoder MB/s, broadcast ns/delivery)
	$(GO) test -run='^$$' -bench=. -benchmem ./codec ./hub ./engine | tee bench.txt

lint: ## go vet
	$(GO) vet ./...
