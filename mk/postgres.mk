# Organisation scale (docs/deploy.md "Team layout"): the store's tests run on
# SQLite and on a private PostgreSQL 15 cluster (integration/testsupport/pgtest
# starts one per test package in a temp dir, as the `postgres` user when run
# as root), and the replica tests put HAProxy in front of several `serval
# serve`. Both come from Debian's packages; SERVAL_REQUIRE_POSTGRES and
# SERVAL_REQUIRE_HAPROXY turn "not installed" skips into failures.
#
#   make pg-deps       install them only
#   make test-pg       the store and CLI tests on both dialects
#   make bench-pg      the store on SQLite vs PostgreSQL (event write, token check,
#                      usage pages with 1,000,000 events), one replica vs two behind
#                      HAProxy, and sticky vs round-robin routing in prompt tokens
#                      evaluated (figures in docs/deploy.md; about 10 minutes)

APT_GET := apt-get -o DPkg::Lock::Timeout=900

.PHONY: pg-deps test-pg bench-pg

pg-deps:
	@{ ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v haproxy >/dev/null; } || { \
		echo "installing Debian's postgresql and haproxy packages (store and replica tests)"; \
		sudo_cmd=; [ "$$(id -u)" = 0 ] || sudo_cmd=sudo; \
		DEBIAN_FRONTEND=noninteractive $$sudo_cmd $(APT_GET) install -y -qq --no-install-recommends postgresql haproxy || { \
			$$sudo_cmd $(APT_GET) update -qq && \
			DEBIAN_FRONTEND=noninteractive $$sudo_cmd $(APT_GET) install -y -qq --no-install-recommends postgresql haproxy; }; }

test-go: pg-deps
TEST_ENV += SERVAL_REQUIRE_POSTGRES=1 SERVAL_REQUIRE_HAPROXY=1

test-pg: build pg-deps
	$(TEST_ENV) $(GO) test -race -count=1 ./server/store/ ./server/cmd/serval/

bench-pg: build pg-deps
	$(TEST_ENV) $(GO) test -run '^$$' -bench 'AddEvent' -benchtime 2000x -timeout 30m ./server/store/
	$(TEST_ENV) $(GO) test -run '^$$' -bench 'LookupToken' -benchtime 5000x -timeout 30m ./server/store/
	$(TEST_ENV) $(GO) test -run '^$$' -bench 'UsageTotals' -benchtime 200x -timeout 30m ./server/store/
	$(TEST_ENV) $(GO) test -run '^$$' -bench '^BenchmarkReplicas$$' -benchtime 1000x -timeout 30m ./integration/replicas/
	$(TEST_ENV) $(GO) test -run '^$$' -bench 'RoutingPromptCache' -benchtime 1x -timeout 30m ./integration/replicas/

BENCH_TARGETS += bench-pg
