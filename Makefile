# jschedlat: build, test, regenerate the BPF objects, run the demo.
GO ?= go
BIN := bin/jschedlat

.PHONY: build test unit generate demo bench clean

# The version and commit go into the binary (jschedlat --version) even where
# GOFLAGS carries -buildvcs=false.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/jschedlat

# The whole suite, one package at a time: the integration tests compare with
# the kernel's own accounting and must not disturb each other. They run a
# real JVM under CPU contention and load the BPF program, so they need root
# (they skip loudly otherwise, and under -short: see `make unit`).
test:
	$(GO) vet ./...
	$(GO) test -p 1 -count=1 -timeout 30m ./...

# The unit tests alone: no root, no JVM, no BPF; seconds.
unit:
	$(GO) test -short -count=1 ./...

# Rebuilds bpf/runqlat_bpfel.{go,o} from bpf/runqlat.bpf.c. Needs clang,
# llvm and libbpf-dev; the outputs are committed so nothing else does.
generate:
	$(GO) generate ./bpf

# Runs the live pipeline as root against the bundled demo JVM workload.
demo: build
	./scripts/demo.sh

# The benchmark suite (root; 22 min with its defaults on an idle 2-CPU machine): writes
# docs/results/benchmarks.md. EXPERIMENTS="1 3" runs some of it; UPDATE=1 keeps the other sections.
bench: build
	./scripts/bench.sh

clean:
	rm -rf bin demo-out
