# scalelab: the two commands a user needs are `make run` and `make test`.
# Everything else here is what they stand on.

SHELL := /bin/bash
GO ?= go
BIN := bin
SCALELAB := $(BIN)/scalelab
GINKGO := $(GO) tool ginkgo
# Specs boot real containers; CI gets plain, timestamped output. SPEC_PROCS
# specs run side by side (ginkgo --procs), each stack capped at its share of
# the CPUs (stacks.WithCPUBudget): a run uses about a quarter of 2 cores
# between boots (BENCHMARKS.md). Not on an engine that stores containers with
# fuse-overlayfs (internal/docker's SlowStorage): on those 2-core VMs every
# process start is slow (fork+exit 8.5 ms, a PostgreSQL connection 22 ms),
# and two stacks at once drove the load average to 30-40 and broke recovery
# guarantees in runs that pass alone (2026-12-02, after the fixes of that
# day), so specs go one at a time there: 26-32 minutes for the suite
# (2026-12-03; two at a time: 18-21 minutes, 1-3 guarantees broken by the
# load), hence the timeout.
SPEC_PROCS ?= $(shell docker info -f '{{.Driver}}' 2>/dev/null | grep -qx fuse-overlayfs && echo 1 || echo 2)
# Every run of the specs also leaves results/specs.junit.xml, for a CI
# system's test view (one test case per spec, the failure's text in it).
GINKGO_FLAGS ?= --timeout=80m --poll-progress-after=60s --procs=$(SPEC_PROCS) \
	--output-dir=$(CURDIR)/results --junit-report=specs.junit.xml
ifeq ($(CI),true)
GINKGO_FLAGS += --no-color
endif

.PHONY: all run test unit specs example images tools browser screenshots build down bench clean help

all: test

help:
	@echo "make run     build images, then run every stage x fault, controls included: results/matrix/index.html"
	@echo "make test    build images, run unit tests and the Ginkgo specs"
	@echo "make images  build or refresh the container images (seconds when nothing changed)"
	@echo "make down    remove what dead scalelab runs of this host left behind (bin/scalelab down --all: everything)"
	@echo "make bench   image build and stack boot times (see BENCHMARKS.md)"
	@echo "make screenshots  the lab pages' screenshots of scalelab up's live page (needs chromium: make browser)"

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(SCALELAB) ./cmd/scalelab

# apt-install installs a Debian package whose command is missing, when we
# may (root, or CI=true); otherwise it says what to run.
# $(call apt-install,COMMAND,PACKAGE,WHY) (no comma in WHY)
apt-install = if ! command -v $(1) >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] || [ "$(CI)" = "true" ]; then \
	    echo "installing $(2) from Debian's packages ($(3))"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null; \
	  else \
	    echo "note: $(2) is not installed: $(3) (sudo apt-get install $(2))"; \
	  fi; \
	fi

# mmdebstrap builds the base image where no registry is reachable.
tools:
	@$(call apt-install,mmdebstrap,mmdebstrap,needed to build the base image where no registry is reachable)

images: build tools
	$(SCALELAB) images

# Debian's chromium, for the spec that drives scalelab up's live page in a
# headless browser (specs/live_test.go).
browser:
	@$(call apt-install,chromium,chromium,the live page's spec drives it)

# The lab pages' screenshots of the live page, taken by its spec.
screenshots: images browser
	SCALELAB_SCREENSHOTS=$(CURDIR) $(GINKGO) --label-filter=live ./specs

unit:
	$(GO) vet ./...
	$(GO) test . ./internal/... ./stacks/... ./faults/... ./cmd/...

# After the specs, where their time went (by stage, the slowest specs); after
# a failure also the failed specs' texts and the end of their narration,
# last: a CI log's tail is often all there is to read.
FAILURES = { cd $(CURDIR) && $(GO) run ./internal/junitfail $(1); exit 1; }

specs: images browser
	$(GINKGO) $(GINKGO_FLAGS) ./specs || $(call FAILURES,results/specs.junit.xml)
	@$(GO) run ./internal/junitfail -times results/specs.junit.xml

# examples/gate-your-service: a service of its own (not mysite) gated by
# five specs through the public scalelab package, its own module.
example: images
	cd examples/gate-your-service && $(GO) vet ./... && \
	  $(GO) test -count=1 -timeout=15m -v ./... -ginkgo.v $(if $(filter true,$(CI)),-ginkgo.no-color) \
	    -ginkgo.junit-report=$(CURDIR)/results/example.junit.xml || $(call FAILURES,results/example.junit.xml)

test: images unit specs example

# The main job: every stage under each of its faults and negative controls;
# writes results/matrix/index.html and matrix.md.
run: images
	$(SCALELAB) matrix --report results/matrix

down: build
	$(SCALELAB) down

# wrk (Debian's package) is the reference load tool the workload generator is
# compared with; it is installed when missing and we are root.
bench: images
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; } || echo "note: wrk not installed"
	$(GO) run ./internal/bench

clean: down
	rm -rf $(BIN) results
