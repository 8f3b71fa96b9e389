# Deployment docs' checks (docs/deploy.md, docs/deploy/): the Prometheus alert
# rules go through `promtool check rules` and their unit tests, from Debian's
# prometheus package, in integration/deploy (which runs inside test-go).
#
#   make test-alerts    only those checks

.PHONY: promtool test-alerts

promtool:
	@command -v promtool >/dev/null || { \
		echo "installing Debian's prometheus package for promtool (alert rule checks)"; \
		apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends prometheus || { \
			apt-get update -qq && apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends prometheus; }; }

test-go: promtool
TEST_ENV += SERVAL_REQUIRE_PROMTOOL=1

test-alerts: build promtool
	$(TEST_ENV) $(GO) test -count=1 ./integration/deploy/
