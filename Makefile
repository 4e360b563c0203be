# Broadsheet. The README's two commands are `go run ./cmd/composer` and
# `./scripts/test.sh`; these targets are shortcuts around them.

.PHONY: run test generate bench fmt

run: ## serve the demo site on http://127.0.0.1:8080
	go run ./cmd/composer

test: ## the whole suite, as CI runs it
	./scripts/test.sh

generate: ## regenerate templ files (commit the result)
	go tool templ generate

bench: ## composer benchmarks (figures go in BENCHMARKS.md)
	go test -run '^$$' -bench . -benchmem ./composer/ ./composer/redisstore/

fmt:
	gofmt -w $$(git ls-files '*.go')
