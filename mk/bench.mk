# serval-bench: the headless completion-latency benchmark (integration/bench).
#
#   make bench-agents   serval-agent vs tabby-agent@1.5.0 on the same traces, twice:
#                       against serval serving the generated test model (out/model), and
#                       against the oracle, a perfect model that measures the agents alone (out/oracle)
#   make bench-agents BENCH_TRACES='--go-traces 6 --python-traces 6'   a longer run

# tabby-agent@1.5.0 comes from mk/server.mk's `tabby-agent` target (.cache/npm-tabby).
BENCH_MODEL := $(ROOT)/.cache/bench/test-model.gguf
BENCH_OUT ?= $(ROOT)/integration/bench/out
BENCH_ARGS ?=
BENCH_TRACES ?= --go-traces 2 --python-traces 2 --seed 1
BENCH_AGENTS = --agent serval=$(BIN)/serval-agent --agent 'tabby=node $(TABBY_AGENT_CLI) --lsp --stdio'

.PHONY: bench-agents bench-tools

$(BENCH_MODEL):
	mkdir -p $(dir $@)
	$(GO) run ./integration/cmd/serval-testmodel -o $@

bench-tools: build tabby-agent $(BENCH_MODEL)
	$(GO) build -o $(BIN)/serval-bench ./integration/bench/cmd/serval-bench

# With MODEL_SHAPE=0.5b (or 1.5b; MODEL_TYPE as for bench-engines) serval serves a
# model of Qwen2.5-Coder's architecture instead (out/model-SHAPE).
bench-agents: bench-tools
	set -e; model=$(BENCH_MODEL); out=$(BENCH_OUT)/model; \
	if [ -n "$(MODEL_SHAPE)" ]; then \
		model=$$($(GO) run ./integration/cmd/serval-testmodel -cache -shape $(MODEL_SHAPE) -type $(MODEL_TYPE)); \
		out=$(BENCH_OUT)/model-$(MODEL_SHAPE); fi; \
	$(BIN)/serval-bench --serval $(BIN)/serval --model $$model $(BENCH_AGENTS) \
		$(BENCH_TRACES) --out $$out $(BENCH_ARGS)
	$(BIN)/serval-bench --oracle $(BENCH_AGENTS) $(BENCH_TRACES) --out $(BENCH_OUT)/oracle $(BENCH_ARGS)

BENCH_TARGETS += bench-agents
