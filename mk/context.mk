# Code context (context/ and integration/context/): tree-sitter syntax, the
# workspace declaration index, recent-work snippets.
#
#   make test-context    short fuzzing of the context parsers (the unit and
#                        integration tests themselves run in test-go)
#   make bench-context   index/gather/update/recall benchmarks on
#                        $(go env GOROOT)/src and on rxjs's TypeScript sources

CONTEXT_CORPUS := $(ROOT)/.cache/corpus
CONTEXT_RXJS := $(CONTEXT_CORPUS)/rxjs/package/src
CONTEXT_RXJS_VERSION := 7.8.2
CONTEXT_FUZZTIME ?= 5s

.PHONY: test-context bench-context context-corpus

test-context:
	$(GO) test -run '^$$' -fuzz '^FuzzWindow$$' -fuzztime $(CONTEXT_FUZZTIME) ./context/syntax
	$(GO) test -run '^$$' -fuzz '^FuzzParsePatterns$$' -fuzztime $(CONTEXT_FUZZTIME) ./context/ignore
	$(GO) test -run '^$$' -fuzz '^FuzzParseDiff$$' -fuzztime $(CONTEXT_FUZZTIME) ./context/recent
	$(GO) test -run '^$$' -fuzz '^FuzzGather$$' -fuzztime $(CONTEXT_FUZZTIME) ./context/gather

# rxjs ships its TypeScript sources in the npm package: a real multi-file
# corpus for the TypeScript recall benchmark.
$(CONTEXT_RXJS):
	@command -v npm >/dev/null || { echo "npm is needed for the TypeScript corpus (apt-get install npm)"; exit 1; }
	rm -rf $(CONTEXT_CORPUS)/rxjs.tmp && mkdir -p $(CONTEXT_CORPUS)/rxjs.tmp
	cd $(CONTEXT_CORPUS)/rxjs.tmp && npm pack --silent rxjs@$(CONTEXT_RXJS_VERSION) >/dev/null && tar xzf rxjs-*.tgz && rm -f rxjs-*.tgz
	rm -rf $(CONTEXT_CORPUS)/rxjs && mv $(CONTEXT_CORPUS)/rxjs.tmp $(CONTEXT_CORPUS)/rxjs

context-corpus: $(CONTEXT_RXJS)

bench-context: context-corpus
	$(GO) test -run '^$$' -bench '^BenchmarkIndexGoroot$$' -benchtime 1x ./context/gather
	$(GO) test -run '^$$' -bench '^BenchmarkGatherGoroot$$' -benchtime 2000x ./context/gather
	$(GO) test -run '^$$' -bench '^BenchmarkIndexUpdate$$' -benchtime 50x ./context/gather
	SERVAL_TS_CORPUS=$(CONTEXT_RXJS) $(GO) test -run '^$$' -bench '^BenchmarkRecall' -benchtime 1x ./context/gather

TEST_TARGETS += test-context
BENCH_TARGETS += bench-context
