# Web app (server/web): its Go tests run in test-go; this adds the end-to-end
# test in Debian's headless Chromium against the real serval (integration/web).
#
#   make e2e-web     installs chromium + playwright-core (cached), runs integration/web/e2e.mjs;
#                    screenshots of every page and the server log land in integration/web/out/;
#                    then runs it again against two replicas on one PostgreSQL behind
#                    HAProxy (integration/replicas TestWebE2EOnReplicaPair, out/replicas/);
#                    then sso.mjs: OpenID sign-in through a provider the test starts, and the
#                    real serval-agent's device sign-in approved through it (out-sso/)
#   make bench-web   server time per page with 100 users and 100,000 events (p50/p99 per page)

.PHONY: e2e-web bench-web

e2e-web: build pg-deps
	$(ROOT)/integration/web/install.sh
	SERVAL_BIN_DIR=$(BIN) SERVAL_LIB_DIR=$(BIN)/lib/cpu node $(ROOT)/integration/web/e2e.mjs
	$(TEST_ENV) SERVAL_WEB_E2E=1 $(GO) test -count=1 -timeout 10m -run '^TestWebE2EOnReplicaPair$$' ./integration/replicas/
	SERVAL_BIN_DIR=$(BIN) SERVAL_LIB_DIR=$(BIN)/lib/cpu node $(ROOT)/integration/web/sso.mjs

bench-web:
	$(GO) test -run '^$$' -bench 'Pages' -benchtime 200x -count 1 ./server/web/

TEST_TARGETS += e2e-web
BENCH_TARGETS += bench-web
