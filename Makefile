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

# go-sqlite3 is cgo: a C compiler is required.
export CGO_ENABLED := 1

.PHONY: build run test lint tools clean

## build: compile the dream binary into bin/
build:
	$(GO) build -o $(BIN) ./cmd/dream

## run: start `dream dev` on 127.0.0.1:8787 with data in ./data
run: build
	./$(BIN) dev

## test: lint, then every test with the race detector
test: lint $(STRIPE_MOCK)
	$(GO) test -race -count=1 ./...

## lint: gofmt, go vet and staticcheck must be clean
lint: tools
	@unformatted=$$(gofmt -l $$(find . -name '*.go' -not -path './e2e/*/node_modules/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:" $$unformatted; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

## tools: install the Go tools the checks use
tools: $(STATICCHECK) $(STRIPE_MOCK)

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(STRIPE_MOCK):
	$(GO) install github.com/stripe/stripe-mock@$(STRIPE_MOCK_VERSION)

clean:
	rm -rf bin
