# One version for serval and serval-agent, stamped into both at link time
# (package buildinfo). Override for a release: make build SERVAL_VERSION=v1.0.0.
# The date is the commit's (SOURCE_DATE_EPOCH when set): the same commit
# builds the same binaries.
#
#   make version        print the version the build stamps
#   make print-ldflags  print GO_LDFLAGS (release builds and tests use them)

SERVAL_VERSION ?= $(shell git -C $(ROOT) describe --tags --always --dirty 2>/dev/null)
SERVAL_COMMIT ?= $(shell git -C $(ROOT) rev-parse HEAD 2>/dev/null)
SERVAL_BUILD_DATE ?= $(shell t=$${SOURCE_DATE_EPOCH:-$$(git -C $(ROOT) log -1 --format=%ct 2>/dev/null)}; \
	[ -n "$$t" ] && date -u -d "@$$t" +%Y-%m-%dT%H:%M:%SZ)
BUILDINFO_PKG := github.com/servalhq/serval/buildinfo
GO_LDFLAGS := -X $(BUILDINFO_PKG).version=$(SERVAL_VERSION) -X $(BUILDINFO_PKG).commit=$(SERVAL_COMMIT) -X $(BUILDINFO_PKG).date=$(SERVAL_BUILD_DATE)

.PHONY: version print-ldflags

version:
	@echo $(SERVAL_VERSION)

print-ldflags:
	@echo '$(GO_LDFLAGS)'
