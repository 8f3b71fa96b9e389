# Serval's build. `make run` and `make test` do everything on a fresh
# Debian/Ubuntu machine with Go and npm; each installs what it needs.
# Areas add their own targets in mk/*.mk and append to TEST_TARGETS / BENCH_TARGETS.

SHELL := /bin/bash
GO ?= go
DEVICE ?= cpu
MODEL ?= Qwen2.5-Coder-0.5B
ROOT := $(abspath .)
DEPS := $(ROOT)/.deps
BIN := $(ROOT)/bin

# llama.cpp v0.5.0, matched with github.com/hybridgroup/yzma v1.28.0: pin both.
LLAMA_NPM_VERSION := 3.22.1
LLAMA_PKG_cpu := @node-llama-cpp/linux-x64
LLAMA_PKG_cuda := @node-llama-cpp/linux-x64-cuda
LLAMA_BINDIR_cpu := linux-x64
LLAMA_BINDIR_cuda := linux-x64-cuda
LLAMA_PKG_vulkan := @node-llama-cpp/linux-x64-vulkan
LLAMA_BINDIR_vulkan := linux-x64-vulkan
LLAMA_DIR := $(DEPS)/llama/$(DEVICE)

# Tests find the libraries here; SERVAL_REQUIRE_LLAMA turns "libraries missing" skips into failures.
export SERVAL_LIB_DIR := $(BIN)/lib/cpu
TEST_ENV := SERVAL_REQUIRE_LLAMA=1 SERVAL_BIN_DIR=$(BIN)

TEST_TARGETS := test-go
BENCH_TARGETS :=

.PHONY: all deps build run test test-go bench bench-go clean

all: build

deps: $(LLAMA_DIR)/libllama.so
	$(GO) mod download

$(LLAMA_DIR)/libllama.so:
	@command -v npm >/dev/null || { echo "npm is needed to fetch the llama.cpp libraries (apt-get install npm)"; exit 1; }
	rm -rf $(LLAMA_DIR).tmp && mkdir -p $(LLAMA_DIR).tmp
	cd $(LLAMA_DIR).tmp && npm pack --silent $(LLAMA_PKG_$(DEVICE))@$(LLAMA_NPM_VERSION) >/dev/null && \
		tar xzf *.tgz --strip-components=3 package/bins/$(LLAMA_BINDIR_$(DEVICE)) && rm -f *.tgz
	@# GPU builds name them libllama.<gpu>.v0.5.0.so; yzma opens libllama.so and libggml.so.
	cd $(LLAMA_DIR).tmp && ln -sf $$(echo libllama.*v0.5.0.so) libllama.so && ln -sf $$(echo libggml.*v0.5.0.so) libggml.so
	rm -rf $(LLAMA_DIR) && mv $(LLAMA_DIR).tmp $(LLAMA_DIR)

build: deps
	$(GO) build -ldflags "$(GO_LDFLAGS)" -o $(BIN)/serval ./server/cmd/serval
	$(GO) build -ldflags "$(GO_LDFLAGS)" -o $(BIN)/serval-agent ./agent/cmd/serval-agent
	mkdir -p $(BIN)/lib/$(DEVICE)
	@# -u skips unchanged files and --remove-destination replaces a changed one
	@# with a new inode: a running serval keeps the libraries it has mapped
	@# (rewriting them in place crashes it with SIGSEGV/SIGBUS).
	cp -a -u --remove-destination $(LLAMA_DIR)/. $(BIN)/lib/$(DEVICE)/

run: build
	$(BIN)/serval serve --model $(MODEL) --device $(DEVICE) $(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(ARGS)

test-go: build
	$(TEST_ENV) $(GO) vet ./...
	$(TEST_ENV) $(GO) test -race -count=1 -timeout 12m ./...

# bench-go runs every Go benchmark with default settings (slow); `make bench` runs the focused ones of mk/*.mk.
bench-go: build
	$(TEST_ENV) $(GO) test -run '^$$' -bench . -benchmem -count 1 ./...

include $(wildcard mk/*.mk)

test: $(TEST_TARGETS)

bench: $(BENCH_TARGETS)

clean:
	rm -rf $(BIN)
