# lbd — see README.md. `make run` and `make test` each set up what they need.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)
GO ?= go
STATICCHECK_VERSION ?= v0.8.2

.PHONY: all build run test bench lint fmt clean deps-test

all: build

build:
	$(GO) build -o bin/lbd ./cmd/lbd
	$(GO) build -o bin/lbctl ./cmd/lbctl

run: build
	./scripts/ensure-deps.sh run
	./scripts/run-demo.sh

deps-test:
	./scripts/ensure-deps.sh test

test: deps-test
	$(GO) vet ./...
	$(GO) test -race -timeout 20m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
