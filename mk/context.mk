# Code context (context/ and integration/context/): tree-sitter syntax, the
# workspace declaration index, recent-work snippets.
#
#   make test-context    short fuzzing of the context parsers (the unit and
#                        integration tests themselves run in test-go)
#   make bench-context   index/gather/update/recall benchmarks on
#                        $(go env GOROOT)/src, rxjs's TypeScript sources and
#                        gyp's Python sources (both from npm packages)

CONTEXT_CORPUS := $(ROOT)/.cache/corpus
CONTEXT_RXJS := $(CONTEXT_CORPUS)/rxjs/package/src
CONTEXT_RXJS_VERSION := 7.8.2
CONTEXT_GYP := $(CONTEXT_CORPUS)/node-gyp/package/gyp
CONTEXT_GYP_VERSION := 11.2.0
# A count, not a duration: a duration-based -fuzztime can end in a spurious
# "context deadline exceeded" under CPU load (Go 1.26, go.dev/issue/75804).
CONTEXT_FUZZTIME ?= 10000x

.PHONY: test-context bench-context context-corpus

test-context:
	$(GO) test -run '^$$' -fuzz '^FuzzWindow$$' -fuzztime $(CONTEXT_FUZZTIME) ./context/syntax
	$(GO) test -run '^$$' -fuzz '^FuzzParsePatterns$$' -fuzztime $(CONTEXT_FUZZTIME) ./context/ignore
	$(GO) test -run '^$$' -fuzz '^FuzzParseDiff$$' -fuzztime $(CONTEXT_FUZZTIME) ./context/recent
	$(GO) test -run '^$$' -fuzz '^FuzzGather$$' -fuzztime $(CONTEXT_FUZZTIME) ./context/gather
	$(GO) test -run '^$$' -fuzz '^FuzzDidChange$$' -fuzztime $(CONTEXT_FUZZTIME) ./context/gather

# rxjs ships its TypeScript sources in the npm package: a real multi-file
# corpus for the TypeScript recall benchmark.
$(CONTEXT_RXJS):
	@command -v npm >/dev/null || { echo "npm is needed for the TypeScript corpus (apt-get install npm)"; exit 1; }
	rm -rf $(CONTEXT_CORPUS)/rxjs.tmp && mkdir -p $(CONTEXT_CORPUS)/rxjs.tmp
	cd $(CONTEXT_CORPUS)/rxjs.tmp && npm pack --silent rxjs@$(CONTEXT_RXJS_VERSION) >/dev/null && tar xzf rxjs-*.tgz && rm -f rxjs-*.tgz
	rm -rf $(CONTEXT_CORPUS)/rxjs && mv $(CONTEXT_CORPUS)/rxjs.tmp $(CONTEXT_CORPUS)/rxjs

# node-gyp ships gyp, a Python code base: the Python recall corpus.
$(CONTEXT_GYP):
	@command -v npm >/dev/null || { echo "npm is needed for the Python corpus (apt-get install npm)"; exit 1; }
	rm -rf $(CONTEXT_CORPUS)/node-gyp.tmp && mkdir -p $(CONTEXT_CORPUS)/node-gyp.tmp
	cd $(CONTEXT_CORPUS)/node-gyp.tmp && npm pack --silent node-gyp@$(CONTEXT_GYP_VERSION) >/dev/null && tar xzf node-gyp-*.tgz && rm -f node-gyp-*.tgz
	rm -rf $(CONTEXT_CORPUS)/node-gyp && mv $(CONTEXT_CORPUS)/node-gyp.tmp $(CONTEXT_CORPUS)/node-gyp

context-corpus: $(CONTEXT_RXJS) $(CONTEXT_GYP)

bench-context: context-corpus
	$(GO) test -run '^$$' -bench '^BenchmarkIndexGoroot$$' -benchtime 1x ./context/gather
	$(GO) test -run '^$$' -bench '^BenchmarkGatherGoroot$$' -benchtime 2000x ./context/gather
	$(GO) test -run '^$$' -bench '^BenchmarkIndexUpdate$$' -benchtime 50x ./context/gather
	$(GO) test -run '^$$' -bench '^BenchmarkDidChangeKeystroke$$' -benchtime 1000x ./context/gather
	SERVAL_TS_CORPUS=$(CONTEXT_RXJS) SERVAL_PY_CORPUS=$(CONTEXT_GYP) $(GO) test -run '^$$' -bench '^BenchmarkRecall' -benchtime 1x ./context/gather

TEST_TARGETS += test-context
BENCH_TARGETS += bench-context
