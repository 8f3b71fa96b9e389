# Live peers (issue 14): llama.cpp's llama-server and Ollama, built once per
# version into ${XDG_CACHE_HOME:-~/.cache}/serval/peers by integration/peers/build.sh
# (outside the checkout: CI clones afresh). The live tests in integration/peers
# run inside test-go; SERVAL_REQUIRE_PEERS turns their "peer missing" skips into failures.
#
#   make peers           builds both (cold on 2 cores: see docs/engines.md, "Live peers")
#   make test-peers      the live peer tests alone
#   make bench-engines   typing replay: Serval's engine vs llama-server vs Ollama
#   make bench-engines-cold  its cold-request part alone (restarts, interleaved)

PEERS_BUILD := $(ROOT)/integration/peers/build.sh
PEERS_JOBS ?= 2
export PEERS_JOBS

.PHONY: peers peer-llama-server peer-ollama test-peers bench-engines bench-engines-cold

peers: peer-llama-server peer-ollama

peer-llama-server:
	nice -n 5 $(PEERS_BUILD) llama-server

peer-ollama:
	nice -n 5 $(PEERS_BUILD) ollama

# The peers must exist before `go test ./...` runs the live tests: test-go
# builds them when the cache lacks them (cold: ~15 min for llama-server and
# ~5 min for Ollama on 2 loaded cores; nothing when cached), and under
# `make test` a missing peer fails the live tests instead of skipping them.
test-go: peers
test-go: TEST_ENV += SERVAL_REQUIRE_PEERS=1

test-peers: build peers
	$(TEST_ENV) SERVAL_REQUIRE_PEERS=1 $(GO) test -race -count=1 -timeout 10m ./integration/peers/...

# The engine benchmark (docs/bench.md, "Engines"): prints the ratio table at the end.
#   make bench-engines MODEL_SHAPE=0.5b|1.5b [MODEL_TYPE=q8_0|f16]   on a model of
#   Qwen2.5-Coder's architecture with random weights (generated once into
#   ${XDG_CACHE_HOME:-~/.cache}/serval/models) instead of the small generated one
BENCH_ENGINES_ARGS ?=
MODEL_SHAPE ?=
MODEL_TYPE ?= q8_0
# The shape goes in its own variable: BENCH_ENGINES_ARGS given on the command
# line would override a target-specific `+=` and silently drop it.
BENCH_ENGINES_MODEL = BENCH_ENGINES_SHAPE=$(MODEL_SHAPE) BENCH_ENGINES_TYPE=$(MODEL_TYPE)
bench-engines: build peers
	mkdir -p $(BENCH_OUT)
	set -o pipefail; $(TEST_ENV) $(BENCH_ENGINES_MODEL) $(BENCH_ENGINES_ARGS) $(GO) test -run '^$$' -bench '^BenchmarkEngines$$' -benchtime 1x -timeout 90m \
		./integration/peers/ | tee $(BENCH_OUT)/engines.txt

# Only the cold request (BENCH_ENGINES_COLD restarts of each engine, interleaved): half a minute.
bench-engines-cold: build peers
	$(TEST_ENV) $(BENCH_ENGINES_MODEL) $(BENCH_ENGINES_ARGS) $(GO) test -run '^$$' -bench '^BenchmarkEngines$$/^cold' -benchtime 1x -timeout 30m \
		./integration/peers/

BENCH_TARGETS += bench-engines
