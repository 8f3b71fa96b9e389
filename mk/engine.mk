# The in-process llama.cpp engine (server/engine/llama) and the generated test
# model (integration/testsupport/ggufgen). Their unit tests run in test-go.
#
#   make test-engine    short fuzzing of the engine's GGUF parser and UTF-8 buffer
#   make bench-engine   typing-replay prompt-cache figures, engine vs bare yzma,
#                       batched slots vs a context per slot (docs/engine.md)
#   make test-model     writes the generated test model to .cache/test-model.gguf

# A count, not a duration: a duration-based -fuzztime can end in a spurious
# "context deadline exceeded" under CPU load (Go 1.26, go.dev/issue/75804).
ENGINE_FUZZTIME ?= 10000x

.PHONY: test-engine bench-engine test-model

test-engine:
	$(GO) test -run '^$$' -fuzz '^FuzzParseGGUF$$' -fuzztime $(ENGINE_FUZZTIME) ./server/engine/llama
	$(GO) test -run '^$$' -fuzz '^FuzzUTF8Buffer$$' -fuzztime $(ENGINE_FUZZTIME) ./server/engine/llama

bench-engine: deps
	SERVAL_LIB_DIR=$(LLAMA_DIR) SERVAL_REQUIRE_LLAMA=1 $(GO) test -run '^$$' -bench 'TypingReplay|EngineVsBare|Slots' -benchtime 1x ./server/engine/llama/

test-model:
	mkdir -p $(ROOT)/.cache
	$(GO) run ./integration/cmd/serval-testmodel -o $(ROOT)/.cache/test-model.gguf

TEST_TARGETS += test-engine
BENCH_TARGETS += bench-engine
