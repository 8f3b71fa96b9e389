# Sign-in (docs/web.md "Single sign-on"): the LDAP tests start Debian's
# slapd in a temp dir on free loopback ports (integration/testsupport/slapdtest);
# the OpenID tests run an in-process provider and need nothing installed.
# SERVAL_REQUIRE_SLAPD turns "slapd not installed" skips into failures.
#
#   make ldap-deps     install slapd only
#   make test-sso      the sign-in and audit tests

.PHONY: ldap-deps test-sso

ldap-deps:
	@{ command -v slapd >/dev/null || [ -x /usr/sbin/slapd ]; } || { \
		echo "installing Debian's slapd package (LDAP sign-in tests)"; \
		sudo_cmd=; [ "$$(id -u)" = 0 ] || sudo_cmd=sudo; \
		DEBIAN_FRONTEND=noninteractive $$sudo_cmd apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends slapd || { \
			$$sudo_cmd apt-get -o DPkg::Lock::Timeout=900 update -qq && \
			DEBIAN_FRONTEND=noninteractive $$sudo_cmd apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends slapd; }; }

test-go: ldap-deps
TEST_ENV += SERVAL_REQUIRE_SLAPD=1

test-sso: build ldap-deps pg-deps
	$(TEST_ENV) $(GO) test -race -count=1 ./server/oidc/ ./server/ldapauth/ ./server/web/ ./server/store/ ./server/cmd/serval/ -run 'OIDC|LDAP|Audit|SignIn|External|Flows'
