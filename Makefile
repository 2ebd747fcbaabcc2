# kamflow: `make run` for the whole stack with demo data, `make test` for
# what CI runs. Both install missing Debian packages when run as root.
SHELL := /bin/bash
GO    ?= go
BIN   := bin
# The test stack and the e2e tests use these binaries.
export KAM_WORKER_BIN  := $(CURDIR)/$(BIN)/worker
export KAM_STARTER_BIN := $(CURDIR)/$(BIN)/starter

.PHONY: run build test lint bench fuzz deps clean

## run: the whole stack on this machine with the demo policy and data
run: build
	@scripts/deps.sh run
	$(BIN)/worker --dev --demo --policy deploy/demo/policy.yaml

## build: the worker and starter binaries in bin/
build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/worker ./worker
	$(GO) build -o $(BIN)/starter ./starter

# Packages that link the Temporal server (the worker binary and the dev
# stack) have no tests of their own: the drills and e2e tests run the built
# binary. Leaving them out of `go test -race` saves recompiling the whole
# server with the race detector (over ten minutes on two cores).
TEST_PKGS = $$($(GO) list ./... | grep -v -e '/worker$$' -e '/internal/devstack$$')

## test: every test against one shared dev stack (what CI runs)
test: build
	@scripts/deps.sh test
	scripts/with-dev-stack.sh $(GO) test -race -count=1 -timeout 20m $(TEST_PKGS)
	scripts/fuzz-smoke.sh

## lint: formatting, vet, staticcheck, errcheck and workflowcheck
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: format these files"; exit 1; }
	$(GO) vet ./...
	$(GO) tool -modfile=tools/go.mod staticcheck ./...
	$(GO) tool -modfile=tools/go.mod errcheck -exclude tools/errcheck.txt ./...
	$(GO) tool -modfile=tools/go.mod workflowcheck ./workflows/...

## bench: throughput against the bare ceilings of this machine (bench/README.md)
bench: build
	@scripts/deps.sh test
	scripts/with-dev-stack.sh $(GO) run ./bench

## fuzz: each fuzz target for longer than make test does (FUZZTIME, default 60s)
fuzz: build
	FUZZTIME=$${FUZZTIME:-60s} scripts/fuzz-smoke.sh

clean:
	rm -rf $(BIN)
