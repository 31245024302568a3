# syncd: make help lists the targets.
GO        ?= go
PKGS      ?= ./...
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BIN       := bin
FUZZTIME  ?= 5s

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## Install slapd, ldap-utils and PostgreSQL when missing (Debian/Ubuntu)
	@./scripts/ensure-deps.sh

.PHONY: build
build: ## Build bin/syncd and bin/omni-standin
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/syncd ./cmd/syncd
	$(GO) build -trimpath -o $(BIN)/omni-standin ./tools/omni-standin

.PHONY: lint
lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

.PHONY: test
test: deps lint ## Lint, then every test (real slapd and PostgreSQL) with the race detector, then the fuzz targets briefly
	$(GO) test -race -count=1 -timeout 15m $(PKGS)
	@$(MAKE) --no-print-directory fuzz

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 5s)
	@for pkg in $$($(GO) list $(PKGS)); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; \
			out=$$($(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg 2>&1) || { echo "$$out" | tail -40; exit 1; }; \
		done; \
	done

.PHONY: bench
bench: BENCH_JSON ?= bench.json
bench: deps ## End-to-end figures at 10k and 100k users (BENCH_JSON, BENCH_FLAGS=-million; BENCH_PKGS=1 adds the package benchmarks)
	$(GO) run ./tools/bench -json '$(BENCH_JSON)' $(BENCH_FLAGS)
	@if [ "$(BENCH_PKGS)" = 1 ]; then \
		echo "$(GO) test -run '^$$$$' -bench . -benchmem -count 1 -timeout 30m $(PKGS)"; \
		$(GO) test -run '^$$' -bench . -benchmem -count 1 -timeout 30m $(PKGS); \
	fi

.PHONY: demo
demo: deps ## Run a real sync end to end on local stand-ins (slapd, PostgreSQL, Omni stand-in)
	$(GO) run ./tools/demo

.PHONY: clean
clean: ## Remove build output
	rm -rf $(BIN)
