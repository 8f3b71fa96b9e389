# Post-processing of raw model output (agent/postprocess). Its tests (golden
# cases, filter units, the fuzz seed corpus) run in test-go with everything else.
#
#   make bench-postprocess   the pipeline on 5,000-line files (mean, p50/p99 wall and thread-CPU time
#                            per call), then the worst-case inputs
#   make fuzz-postprocess    FuzzProcess for FUZZTIME (default 5m)

FUZZTIME ?= 5m

.PHONY: bench-postprocess fuzz-postprocess

bench-postprocess:
	$(GO) test -run '^$$' -bench 'BenchmarkProcess$$' -benchtime 5000x -benchmem ./agent/postprocess/
	$(GO) test -run '^$$' -bench 'BenchmarkProcessWorstCase' -benchtime 50x -benchmem ./agent/postprocess/

fuzz-postprocess:
	$(GO) test -run '^$$' -fuzz FuzzProcess -fuzztime $(FUZZTIME) -parallel 1 ./agent/postprocess/
BENCH_TARGETS += bench-postprocess
