# Dream API. `make run` starts the dev server; `make test` installs what the
# tests need and runs them all (CI runs exactly that).

GO          ?= go
BIN         := bin/dream
GOBIN       := $(shell $(GO) env GOPATH)/bin
STATICCHECK := $(GOBIN)/staticcheck
STATICCHECK_VERSION := v0.8.2
# Stripe's OpenAPI-backed mock, which the billing tests start on loopback.
STRIPE_MOCK := $(GOBIN)/stripe-mock
STRIPE_MOCK_VERSION := v0.203.0
# LiteFS, which the cluster test in e2e/cluster mounts three times.
LITEFS := $(GOBIN)/litefs
LITEFS_VERSION := v0.5.14

# go-sqlite3 is cgo: a C compiler is required.
export CGO_ENABLED := 1

.PHONY: build run test e2e-sdk sdk-deps lint tools fuse chromium tidy clean bench docs-screenshots fuzz

## build: compile the dream binary into bin/
build:
	$(GO) build -o $(BIN) ./cmd/dream

## run: start `dream dev` on 127.0.0.1:8787 with data in ./data
run: build
	./$(BIN) dev

## test: lint, every Go test with the race detector (the browser test
## loads the SDK that sdk-deps installs), then the SDK suite
test: lint $(STRIPE_MOCK) $(LITEFS) fuse chromium tidy sdk-deps
	$(GO) test -race -count=1 ./...
	$(MAKE) e2e-sdk

## sdk-deps: install the published @dream-api/sdk (pinned in e2e/sdk)
sdk-deps:
	@if ! command -v node >/dev/null 2>&1; then \
		if [ "$$CI" = "true" ]; then echo "sdk-deps: node is required (CI=true) but not installed" >&2; exit 1; fi; \
		echo "sdk-deps: node is not installed; the SDK suite and the browser test will skip"; exit 0; \
	fi; \
	cd e2e/sdk && npm ci --no-audit --no-fund

## e2e-sdk: the published @dream-api/sdk against `dream dev`
e2e-sdk: build sdk-deps
	@if ! command -v node >/dev/null 2>&1; then exit 0; fi; \
	cd e2e/sdk && DREAM_BIN=$(CURDIR)/$(BIN) npm test

## bench: dream against a bare net/http server on this machine: `dream dev`
## and a LiteFS primary with two replicas under the same load, then a node
## of the fly.toml Machine's budget with 256, 100,000 and random end users
## of 1,000,000, with every target of docs/BENCHMARKS.md (five to seven
## minutes)
bench: build $(LITEFS) fuse
	$(GO) build -o bin/dreambench ./cmd/dreambench
	./bin/dreambench -dream $(BIN)
	$(GO) test ./primary -run '^$$' -bench BenchmarkMeterReport -benchtime 1x
	$(GO) test ./edge -run '^$$' -bench BenchmarkDashboardScale -benchtime 1x

# What `make fuzz` runs: the targets whose names match FUZZ, FUZZTIME
# each, with FUZZFLAGS passed to go test besides (FUZZFLAGS='-parallel 1'
# keeps it to one worker on a shared machine).
FUZZ      ?= ^Fuzz
FUZZTIME  ?= 2m
FUZZFLAGS ?=

## fuzz: every fuzz target of every package in turn, FUZZTIME each, going
## on past a failure and naming the failed at the end; the list comes from
## go test -list, so a new target is never left out. The seeds and
## testdata/fuzz corpora already run as tests in make test
fuzz:
	@set -e; targets=$$($(GO) test -list '$(FUZZ)' ./... | \
		awk '/^Fuzz/ { names[++n] = $$1 } /^ok/ { for (i = 1; i <= n; i++) print $$2 "," names[i]; n = 0 }'); \
	failed=; for target in $$targets; do \
		pkg=$${target%%,*}; name=$${target#*,}; \
		echo "== $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test $$pkg -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS) || failed="$$failed $$name"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed (the inputs are under the package's testdata/fuzz)"; exit 1; fi

## lint: gofmt, go vet and staticcheck must be clean
lint: tools
	@unformatted=$$(gofmt -l $$(find . -name '*.go' -not -path './e2e/*/node_modules/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:" $$unformatted; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

## tools: install the Go tools the checks use
tools: $(STATICCHECK) $(STRIPE_MOCK) $(LITEFS) fuse

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(STRIPE_MOCK):
	$(GO) install github.com/stripe/stripe-mock@$(STRIPE_MOCK_VERSION)

$(LITEFS):
	$(GO) install github.com/superfly/litefs/cmd/litefs@$(LITEFS_VERSION)

## fuse: Debian's fuse3, which LiteFS mounts with; installed as root, and
## required under CI=true (elsewhere the cluster test skips without it)
fuse:
	@command -v fusermount3 >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse3 >/dev/null || \
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse3 >/dev/null; }; \
		elif [ "$$CI" = "true" ]; then echo "fuse: fuse3 is required (CI=true) and cannot be installed" >&2; exit 1; \
		else echo "fuse: fuse3 is not installed; the LiteFS cluster test will skip"; fi; }

## docs-screenshots: the dashboard's screenshots in docs/dashboard, taken by
## the browser tests of a developer's journeys
docs-screenshots: chromium sdk-deps
	DREAM_SCREENSHOTS=$(CURDIR)/docs/dashboard $(GO) test -count=1 -run 'TestBrowser_(DashboardJourney|StoreJourney|DashboardAccessible)' ./e2e/browser

## chromium, tidy: Debian's Chromium, which the browser tests drive, and
## HTML Tidy, which validates the dashboard's pages; installed as root, and
## required under CI=true (elsewhere the tests that need them skip)
chromium tidy:
	@command -v $@ >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $@ >/dev/null || \
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $@ >/dev/null; }; \
		elif [ "$$CI" = "true" ]; then echo "$@: $@ is required (CI=true) and cannot be installed" >&2; exit 1; \
		else echo "$@: $@ is not installed; the tests that need it will skip"; fi; }

clean:
	rm -rf bin e2e/sdk/node_modules
