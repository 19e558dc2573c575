# nodetriage — build, run, test.
#
#   make run    build and run `nodetriage check` on this machine (prints the report)
#   make test   install what is missing, then run every test (real components included)
#
# The journal reader uses cgo (go-systemd's sdjournal dlopens libsystemd), so
# everything is built with CGO_ENABLED=1.

SHELL       := /bin/bash
GO          ?= go
export CGO_ENABLED := 1
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT      ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS     := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BIN         := _output/nodetriage
FUZZTIME    ?= 10s
TEST_TIMEOUT ?= 60m
RUN_ARGS    ?= --host-root / --since 1h

.PHONY: all build run test deps kube-binaries lint fuzz fuzz-long bench clean

all: build

build:
	@mkdir -p _output
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/nodetriage

# Exit code 1 means "problems found" — the report ran fine, so make succeeds.
run: build
	@./$(BIN) check $(RUN_ARGS); rc=$$?; if [ $$rc -gt 1 ]; then exit $$rc; fi

deps:
	./hack/install-deps.sh

kube-binaries:
	./hack/build-kube.sh

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

test: deps kube-binaries lint
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	./hack/fuzz.sh $(FUZZTIME)

# Longer fuzzing, one target at a time (FUZZ_LONG each, default 5m; a crasher
# is kept under the package's testdata/fuzz/ and becomes a regression test).
FUZZ_LONG ?= 5m
fuzz fuzz-long:
	./hack/fuzz.sh $(FUZZ_LONG)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf _output

# --- image and demo (hack/demo/) ---------------------------------------------
#   make image      the agent image: with a Docker engine `docker build` of the
#                   Dockerfile (IMAGE=...), else hack/demo/build-image.sh writes
#                   _output/image/nodetriage.oci.tar from the same Debian
#                   packages (import with ctr images import)
#   make demo       a real single-node cluster on this machine with the agent,
#                   three faults and `kubectl describe node` (needs root)
#   make demo-down  stop and remove everything make demo started

IMAGE ?= ghcr.io/nodetriage/nodetriage:$(VERSION)

.PHONY: image demo demo-down

image:
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then \
	  docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) . ; \
	else \
	  echo "make image: no Docker engine; building the OCI archive with hack/demo/build-image.sh"; \
	  VERSION=$(VERSION) COMMIT=$(COMMIT) ./hack/demo/build-image.sh; \
	fi

demo: deps
	VERSION=$(VERSION) COMMIT=$(COMMIT) ./hack/demo/demo.sh

demo-down:
	./hack/demo/down.sh

# Measurements (docs/benchmarks.md). Not part of `make test`: each takes
# minutes and loads the machine. Results go to $(BENCH_OUT).
BENCH_OUT  ?= _output/bench
BENCH_RUNS ?= 3

.PHONY: soak scale latency bench-all

# 10 min at 5,000 kmsg + 5,000 journal lines/s into the real binary; exit 1
# when RSS > 50 MiB, CPU > 250 millicores, status writes > 1/s or Events
# beyond the rate limit. It floods the machine's kernel log while it runs.
soak: deps kube-binaries
	@mkdir -p $(BENCH_OUT)
	$(GO) run ./hack/bench/soak -json $(BENCH_OUT)/soak.json

# 1,000 reporters against a real API server: steady state over 10 min with
# the 5 min heartbeat, then a fleet-wide fault and a message storm.
scale: deps kube-binaries
	@mkdir -p $(BENCH_OUT)
	$(GO) run ./hack/bench/scale -json $(BENCH_OUT)/scale.json

# Injection to visible through the API server, 50 trials per stream class
# and periodic check.
latency: deps kube-binaries
	@mkdir -p $(BENCH_OUT)
	$(GO) run ./hack/bench/latency -json $(BENCH_OUT)/latency.json

# Everything in docs/benchmarks.md, $(BENCH_RUNS) runs each (about 6 h).
bench-all: deps kube-binaries
	BENCH_OUT=$(BENCH_OUT) BENCH_RUNS=$(BENCH_RUNS) ./hack/bench/bench-all.sh
