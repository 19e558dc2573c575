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

.PHONY: all build run test test-unit deps kube-binaries lint fuzz fuzz-long bench clean

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

# Longer fuzzing, one target at a time.
fuzz-long:
	./hack/fuzz.sh 5m

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
