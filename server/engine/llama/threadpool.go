package llama

import (
	"fmt"

	yz "github.com/hybridgroup/yzma/pkg/llama"
)

// newThreadPool makes the pool of llama.cpp CPU threads that the engine's
// context keeps for its whole life, as llama-server does (llama.cpp's
// common_threadpools). Without an attached pool, the CPU backend of the
// prebuilt libraries (built without OpenMP, whose team would persist) makes a
// new pool for every graph it computes, that is for every decode step and so
// for every generated token: it starts threads-1 OS threads and joins them
// again. On a busy machine each new thread waits for a core while the caller
// spins at ggml's first barrier; docs/bench.md ("Cold request") has the
// measurement. A pool of one thread starts no thread.
func newThreadPool(threads int) (yz.Threadpool, error) {
	params := yz.ThreadpoolParamsDefault(int32(threads))
	pool, err := yz.ThreadpoolNew(&params)
	if err != nil {
		return 0, fmt.Errorf("llama: a pool of %d CPU threads: %w", threads, err)
	}
	return pool, nil
}
