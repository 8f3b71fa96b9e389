# serval-agent (lsp/, agent/, integration/agent/): the LSP server editors spawn.
#
#   make test-agent      short fuzzing of the agent's input parsers (its unit and
#                        integration tests themselves run in test-go)
#   make bench-agent     serval-agent vs tabby-agent@1.5.0 side by side: spawn to
#                        initialize, memory after 100 documents + 200 completions,
#                        per-completion overhead on a 20,000-line file; plus the
#                        agent's in-process own time and the keystroke cost
#   make profile-agent   CPU profile of the completion hot path (agent.prof)

# A count, not a duration: a duration-based -fuzztime can end in a spurious
# "context deadline exceeded" under CPU load (Go 1.26, go.dev/issue/75804).
AGENT_FUZZTIME ?= 10000x

.PHONY: test-agent bench-agent profile-agent

test-agent:
	$(GO) test -run '^$$' -fuzz '^FuzzServerInput$$' -fuzztime $(AGENT_FUZZTIME) ./lsp
	$(GO) test -run '^$$' -fuzz '^FuzzDocumentEdits$$' -fuzztime $(AGENT_FUZZTIME) ./lsp
	$(GO) test -run '^$$' -fuzz '^FuzzConfigTOML$$' -fuzztime $(AGENT_FUZZTIME) ./agent
	$(GO) test -run '^$$' -fuzz '^FuzzParseRemoteURL$$' -fuzztime $(AGENT_FUZZTIME) ./agent

bench-agent: build tabby-agent
	$(GO) test -run '^$$' -bench '^BenchmarkCompleteOwnTime$$' -benchtime 2000x ./agent
	$(GO) test -run '^$$' -bench '^BenchmarkKeystrokeOn20000Lines$$' -benchmem ./lsp
	cd integration/agent && SERVAL_BIN_DIR=$(BIN) $(GO) test -run '^$$' -bench '^BenchmarkSpawnToInitialize$$' -benchtime 20x .
	cd integration/agent && SERVAL_BIN_DIR=$(BIN) $(GO) test -run '^$$' -bench '^BenchmarkMemoryAfterWork$$' -benchtime 1x -timeout 15m .
	cd integration/agent && SERVAL_BIN_DIR=$(BIN) $(GO) test -run '^$$' -bench '^BenchmarkCompletionOverhead$$' -benchtime 200x -timeout 15m .

profile-agent:
	$(GO) test -run '^$$' -bench '^BenchmarkCompleteOwnTime$$' -benchtime 20000x -cpuprofile agent.prof ./agent
	$(GO) tool pprof -top -nodecount 25 agent.prof

TEST_TARGETS += test-agent
BENCH_TARGETS += bench-agent
