# Release archives and editor packages for every platform (mk/dist.sh), and the
# emulated runs of the foreign binaries (integration/platforms).
#
#   make dist             dist/serval-VERSION-<platform>.tar.gz|.zip (binaries, llama.cpp libraries,
#                         notices, SHA256SUMS), dist/serval-VERSION-<target>.vsix per VS Code target and
#                         a universal one, dist/SHA256SUMS
#   make test-platforms   cross-builds, then: linux-arm64 under qemu-user-static (agent over stdio, a
#                         server completion), windows-amd64 under wine (agent over stdio, serval.exe's
#                         message without DLLs), darwin binaries inspected only (Mach-O: CPU, libraries,
#                         minimum macOS, code signature page hashes, every bound symbol). Needs, cached under
#                         SERVAL_CACHE: arm64 libffi (mk/dist.sh arm64-runtime), a Wine prefix with a
#                         bcryptprimitives.dll shim for Wine 8.0 (mk/dist.sh wine-prefix)
#
# darwin agents: Apple's clang on a Mac; on Linux x64, Zig 0.11.0 from npm (make darwin-toolchain, cached
# in SERVAL_CACHE/zig-0.11.0) with the framework stubs in mk/darwin/frameworks. Linked agents are kept by
# the content they are built from in SERVAL_CACHE/go-bin (mk/dist.sh cached_build), so an unchanged
# agent is not linked again. The darwin archives carry node-llama-cpp 3.21.1's macOS libraries
# (llama.cpp v0.4.0), fetched with npm into SERVAL_CACHE/llama-npm by version.

DIST_DIR ?= $(ROOT)/dist
SERVAL_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/serval
# libc6-dev-arm64-cross: the arm64 agent's cgo headers and static libc (only recommended by gcc-aarch64-linux-gnu);
# libc6-arm64-cross, libstdc++6-arm64-cross: what the arm64 serval and its llama.cpp libraries load under qemu.
PLATFORM_APT_PKGS := gcc-aarch64-linux-gnu libc6-dev-arm64-cross libc6-arm64-cross libstdc++6-arm64-cross \
	gcc-mingw-w64-x86-64 qemu-user-static wine wine64 zip unzip

.PHONY: dist dist-archives platforms-deps test-platforms darwin-toolchain

# Zig for the darwin agents (Linux x64 only; a Mac uses its own clang). Idempotent.
darwin-toolchain:
	@if [ "$$(uname -s)-$$(uname -m)" = Linux-x86_64 ]; then SERVAL_CACHE=$(SERVAL_CACHE) mk/dist.sh zig >/dev/null; fi

# Idempotent: installs only what is missing.
platforms-deps:
	@missing=""; for p in $(PLATFORM_APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		sudo_cmd=""; [ "$$(id -u)" = 0 ] || sudo_cmd=sudo; \
		echo "platforms-deps: installing$$missing"; \
		$$sudo_cmd apt-get -o DPkg::Lock::Timeout=900 update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo_cmd apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends $$missing; \
	fi

dist-archives: platforms-deps darwin-toolchain
	DIST_DIR=$(DIST_DIR) VERSION=$(SERVAL_VERSION) VERSION_LDFLAGS='$(GO_LDFLAGS)' SERVAL_CACHE=$(SERVAL_CACHE) GO=$(GO) mk/dist.sh binaries
	DIST_DIR=$(DIST_DIR) VERSION=$(SERVAL_VERSION) VERSION_LDFLAGS='$(GO_LDFLAGS)' SERVAL_CACHE=$(SERVAL_CACHE) GO=$(GO) mk/dist.sh archives

dist: dist-archives vscode-deps
	DIST_DIR=$(DIST_DIR) VERSION=$(SERVAL_VERSION) VERSION_LDFLAGS='$(GO_LDFLAGS)' SERVAL_CACHE=$(SERVAL_CACHE) GO=$(GO) mk/dist.sh vsix
	@echo "dist: $(DIST_DIR)"; ls -1 $(DIST_DIR) | grep -v '^build$$'

# The archives go to a scratch dist folder so a `make dist` for release is left alone.
test-platforms: build dist-archives-test
	SERVAL_CACHE=$(SERVAL_CACHE) mk/dist.sh arm64-runtime
	SERVAL_CACHE=$(SERVAL_CACHE) mk/dist.sh wine-prefix
	$(TEST_ENV) SERVAL_DIST_DIR=$(SERVAL_CACHE)/dist-test $(GO) test -count=1 -timeout 15m -v ./integration/platforms/

.PHONY: dist-archives-test
dist-archives-test: platforms-deps vscode-deps darwin-toolchain
	DIST_DIR=$(SERVAL_CACHE)/dist-test VERSION=test SERVAL_CACHE=$(SERVAL_CACHE) GO=$(GO) mk/dist.sh binaries
	DIST_DIR=$(SERVAL_CACHE)/dist-test VERSION=test SERVAL_CACHE=$(SERVAL_CACHE) GO=$(GO) mk/dist.sh archives
	DIST_DIR=$(SERVAL_CACHE)/dist-test VERSION=test SERVAL_CACHE=$(SERVAL_CACHE) GO=$(GO) mk/dist.sh vsix

# In make test: warm (Go cache, Debian packages, Wine prefix and arm64 libffi in place) the whole target
# took 1 min 19 s here. Cold it also cross-builds four more platforms; on the shared machine under load
# ~30 that was over 36 min, on an idle machine it is far less (not measured). See docs/platforms.md.
TEST_TARGETS += test-platforms
