# Broadsheet. The README's two commands build and run bin/composer and run
# ./scripts/test.sh; these targets are shortcuts around them.

.PHONY: run build test generate bench fmt dev new-fragment check-fragments

run: ## build and serve the demo site on http://127.0.0.1:8080 (the Dockerfile's runtime setting; Ctrl-C stops it at once)
	go build -o bin/composer ./cmd/composer
	GODEBUG=adaptivestackstart=1 bin/composer -drain 0

build: ## the composer and the load tool in bin/, as the Dockerfile builds them (-trimpath: no build machine paths in the binary)
	CGO_ENABLED=0 go build -trimpath -o bin/composer ./cmd/composer
	CGO_ENABLED=0 go build -trimpath -o bin/loadtest ./cmd/loadtest

test: ## the whole suite, as CI runs it
	./scripts/test.sh

dev: ## develop fragments: rebuild, restart and reload the browser on save (http://127.0.0.1:7331)
	go build -o bin/broadsheet ./cmd/broadsheet
	bin/broadsheet dev

new-fragment: ## scaffold a fragment: make new-fragment NAME=traffic [PARAMS="city=london"]
	@test -n "$(NAME)" || { echo 'usage: make new-fragment NAME=traffic [PARAMS="city=london road=m25"]'; exit 2; }
	go run ./cmd/broadsheet new fragment $(NAME) $(foreach p,$(PARAMS),-param $(p))

check-fragments: ## what a new fragment or page can break: fragments, layouts and pages (broadsheet check)
	go run ./cmd/broadsheet check

generate: ## regenerate templ files (commit the result)
	go tool templ generate

bench: ## composer benchmarks (figures go in BENCHMARKS.md)
	go test -run '^$$' -bench . -benchmem ./composer/ ./composer/redisstore/

fmt:
	gofmt -w $$(git ls-files '*.go')

.PHONY: bench-suite
bench-suite: ## end-to-end figures for BENCHMARKS.md: every size × state, floor, Redis, remote services, medians of 3 runs (~18 min); writes docs/benchmarks/latest.json and its plots
	go run ./cmd/benchsuite -runs 3 -json docs/benchmarks/latest.json -plots docs/benchmarks -md bench-suite.md

.PHONY: bench-plots
bench-plots: ## the tables and plots of docs/benchmarks/latest.json again, without running anything
	go run ./cmd/benchsuite -from docs/benchmarks/latest.json -plots docs/benchmarks -md bench-suite.md

.PHONY: bench-remote
bench-remote: ## the remote-fragment-service and cold 10,000 (c=1) workloads of bench-suite alone (~4 min)
	go run ./cmd/benchsuite -runs 3 -only remote,scores-cold-c1 -json bench-remote.json -md bench-remote.md

.PHONY: chaos
chaos: ## faults, herd, overload (warm and a real 10x cold), shutdown, memory, slow clients against real composer and redis-server processes (~7 min; figures for RELIABILITY.md)
	go run ./cmd/chaos -json chaos.json -md chaos.md
	go test -race -count=1 -v -run 'Misbehaving|Disconnect' ./cmd/chaos

.PHONY: lighthouse
lighthouse: ## Lighthouse mobile performance of the front and scores pages on a local composer (needs npm and /usr/bin/chromium; reports in artifacts/lighthouse/)
	./scripts/lighthouse.sh
