# lbd — see README.md. `make run` and `make test` each set up what they need.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)
GO ?= go
STATICCHECK_VERSION ?= v0.8.2

.PHONY: all build run test bench bench-shared bench-go lint fmt clean deps-test fuzz soak docs test-tempest redteam ha-figures demo-autoscale autoscale-figures

all: build

build:
	$(GO) build -o bin/lbd ./cmd/lbd
	$(GO) build -o bin/lbctl ./cmd/lbctl

run: build
	./scripts/ensure-deps.sh run
	./scripts/run-demo.sh

# The auto scaling loop on one machine (about two minutes): lbd, a real
# Prometheus, lbctl autoscale --provider local and a load stepping 1× → 4× →
# 1×; the chart lands in demo-autoscale/autoscale.png (docs/autoscale.md).
demo-autoscale: build
	./scripts/ensure-deps.sh autoscale
	./scripts/demo-autoscale.sh

# The auto scaling loop on the OpenStack peer, for figures (docs/autoscale.md):
# TestAutoscaleOnThePeer AUTOSCALE_RUNS times (default 3, ~3 min each), each
# run's chart, load by the second and figures in bin/autoscale-peer/runN/.
AUTOSCALE_RUNS ?= 3
autoscale-figures: deps-test
	./scripts/openstack-peer.sh up
	rm -rf bin/autoscale-peer
	for i in $$(seq $(AUTOSCALE_RUNS)); do \
	  LBD_AUTOSCALE_REPORT=$(CURDIR)/bin/autoscale-peer/run$$i $(GO) test -count=1 -timeout 20m -run '^TestAutoscaleOnThePeer$$' ./internal/octavia/cloud/ || exit 1; \
	done
	cat bin/autoscale-peer/run*/figures.txt

deps-test:
	./scripts/ensure-deps.sh test

# lbctl, the operator's CLI, also builds for macOS (lbd itself is Linux-only):
# built for darwin here so that a Linux-only call in its packages shows.
#
# The OpenStack compatibility tests run the real openstack CLI against lbd,
# with a real Keystone and Neutron (and Octavia, to compare answers): the
# peer from ../shared/peers, started once (idempotent; first start ~5 min).
test: deps-test
	$(GO) vet ./...
	GOOS=darwin $(GO) build -o /dev/null ./cmd/lbctl
	./scripts/openstack-peer.sh up
	$(GO) test -race -timeout 30m ./...
	LBD_TEST_EVENT_LOOP=off $(GO) test -race -timeout 30m ./internal/proxy/
	FUZZ_TIME=4s ./scripts/fuzz.sh

# Octavia's API conformance tests (octavia-tempest-plugin tests/api/v2, run by
# tempest) against lbd: pass/fail/skip per module. Not part of make test
# (~10 min; TEMPEST_TARGETS="lbd octavia" adds the real Octavia's baseline,
# ~40 min more). See docs/tempest.md.
test-tempest:
	./scripts/tempest.sh

# The differential harness: the hostile-request corpus through lbd (both
# engines) and through HAProxy configured alike, each in front of a member
# that records what it receives. Fails on a desync through lbd or a
# difference from HAProxy the corpus does not explain; prints the
# differences. make test runs it too (without the reports).
redteam:
	./scripts/ensure-deps.sh redteam
	mkdir -p bin
	LBD_REDTEAM=1 LBD_REDTEAM_REPORT=$(CURDIR)/bin/redteam-loop.txt $(GO) test -count=1 -run '^TestDifferentialHAProxy$$' ./internal/proxy/
	LBD_REDTEAM=1 LBD_REDTEAM_REPORT=$(CURDIR)/bin/redteam-goroutines.txt LBD_TEST_EVENT_LOOP=off $(GO) test -count=1 -run '^TestDifferentialHAProxy$$' ./internal/proxy/
	cat bin/redteam-loop.txt
	diff -u <(tail -n +2 bin/redteam-loop.txt) <(tail -n +2 bin/redteam-goroutines.txt) && echo "both engines: the same outcomes"

# Longer fuzzing: FUZZ_TIME per target (default 2m).
fuzz:
	./scripts/fuzz.sh

# Sustained load with churn against a real lbd for SOAK_TIME (default 3m):
# RSS, goroutines, fds and errors at start and end.
soak:
	./scripts/soak.sh

# lbd beside HAProxy and nginx, alternated, paired ratios of requests/s and
# CPU per request with their spread (docs/benchmarks.md). ~8 min; QUICK=1
# ~3 min; SWEEP=1 response sizes, concurrency and POST bodies; PIN=none both
# cores. Then the TLS scenarios (scripts/bench-tls.sh: HTTPS keep-alive, full
# and resumed handshakes with ECDSA and RSA, HTTP/2; ~6 min; TLS_BENCH=0
# leaves them out). Not part of make test.
bench:
	scripts/bench-paired.sh
	[ "$${TLS_BENCH:-1}" = 0 ] || scripts/bench-tls.sh

# The shared harness (../shared/bench/bench.sh): throughput, latency and RSS
# of lbd and lbd with its whole feature set beside HAProxy and nginx.
bench-shared:
	scripts/bench-compare.sh

# The figures of docs/ha.md: 10 kill -9s of the MASTER under load (failover
# time, failed requests), the propagation of 100 API changes to every
# instance, an idle follower's memory and CPU (in network namespaces, as
# root; about 5 minutes), and what etcd adds to an API change.
ha-figures: deps-test
	LBD_HA_KILLS=$${LBD_HA_KILLS:-10} LBD_HA_CHANGES=$${LBD_HA_CHANGES:-100} $(GO) test -count=1 -timeout 30m -run TestHAFigures -v ./internal/ha/ | grep -E 'FIGURE|kill [0-9]+:|^(ok|FAIL|---)'
	$(GO) test -count=1 -run '^$$' -bench BenchmarkAPIChangeStore -benchtime 300x ./internal/controlplane/

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# The flag references in docs/ are generated from the flag definitions, and
# docs/architecture.md's package table from the packages and archtest's rules.
docs:
	LBD_UPDATE_DOCS=1 $(GO) test -count=1 -run TestFlagReferenceIsCurrent ./cmd/...
	LBD_UPDATE_DOCS=1 $(GO) test -count=1 -run TestArchitectureDocIsCurrent ./internal/archtest

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
