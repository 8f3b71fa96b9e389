# Load runs outside `make test` (minutes to an hour): integration/load.
#   make overload OVERLOAD_BEFORE=/path/to/other/serval   the overload table (docs/reliability.md), before and after in one run
#   make soak [SOAK=60m] [SOAK_OUT=soak.txt]              20 typists for an hour, sampled every minute
.PHONY: overload soak

SOAK ?= 60m
SOAK_OUT ?= $(ROOT)/soak.txt

overload: build
	SERVAL_OVERLOAD='$(if $(OVERLOAD_BEFORE),before=$(OVERLOAD_BEFORE)$(comma))after=$(BIN)/serval' $(TEST_ENV) \
		$(GO) test -run '^TestOverloadTable$$' -v -count=1 -timeout 90m ./integration/load/

soak: build
	SERVAL_SOAK=$(SOAK) SERVAL_SOAK_OUT=$(SOAK_OUT) SERVAL_SOAK_BINARY=$(BIN)/serval $(TEST_ENV) \
		$(GO) test -run '^TestSoak$$' -v -count=1 -timeout 90m ./integration/load/

comma := ,
