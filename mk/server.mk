# Server area: the tabby-agent peer used by integration/server, and focused
# test and benchmark targets for working on the server.
#
# `make test` runs the server's tests inside test-go (go test ./...); this file
# only makes sure tabby-agent@1.5.0 is installed first and that the peer test
# fails rather than skips when it cannot run.

TABBY_AGENT_VERSION := 1.5.0
TABBY_AGENT_DIR := $(ROOT)/.cache/npm-tabby
TABBY_AGENT_CLI := $(TABBY_AGENT_DIR)/node_modules/tabby-agent/dist/cli.js

TEST_ENV += SERVAL_REQUIRE_TABBY=1 SERVAL_TABBY_AGENT=$(TABBY_AGENT_CLI)

.PHONY: tabby-agent test-server bench-server

# Installed once into .cache (kept between runs); idempotent.
tabby-agent: $(TABBY_AGENT_CLI)

$(TABBY_AGENT_CLI):
	@command -v node >/dev/null && command -v npm >/dev/null || { \
		echo "installing node and npm (needed for the tabby-agent peer test)"; \
		apt-get update -qq && apt-get install -y -qq nodejs npm; }
	mkdir -p $(TABBY_AGENT_DIR)
	cd $(TABBY_AGENT_DIR) && npm install --silent --no-audit --no-fund --prefix . tabby-agent@$(TABBY_AGENT_VERSION)
	@test -f $@ || { echo "tabby-agent@$(TABBY_AGENT_VERSION) installed without dist/cli.js"; exit 1; }

test-go: tabby-agent

# Focused: only the server's packages and its integration tests.
test-server: build tabby-agent
	$(TEST_ENV) $(GO) vet ./server/... ./integration/server/... ./integration/testsupport/servaltest/...
	$(TEST_ENV) $(GO) test -race -count=1 -timeout 10m ./server/api/... ./server/auth/... ./server/store/... \
		./server/completion/... ./server/httpapi/... ./server/cmd/serval/... ./integration/server/...

# Server overhead per request with an instant fake engine (p50/p99 in µs).
bench-server:
	$(GO) test -run '^$$' -bench 'ServerOverhead' -benchtime 5000x -count 1 ./server/httpapi/
BENCH_TARGETS += bench-server
