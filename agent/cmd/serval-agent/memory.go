package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// The agent sits beside the editor and its live heap is small (documents,
// the declaration index: about 8 MB with 100 open 16 KB files), but the Go
// runtime lets the heap grow to twice the live heap between collections and
// returns freed pages to the system slowly, so its resident memory wandered
// between 29 and 31 MB in the 100-documents scenario (BenchmarkMemoryAfterWork,
// js-16KB). A soft memory limit makes the collector and the scavenger keep
// the Go memory near it. A fixed limit would make a large workspace, whose
// live heap approaches it, collect continuously, so after every collection
// the limit moves to twice the live heap when that is above the base.
const (
	// Measured side by side (docs/agent.md, "Memory limit"): without a limit
	// 29.3-30.3 MB; 18 MiB gave 25.9-26.7 MB for about 20% more CPU time,
	// 19 MiB 27.5-27.6 MB for 3-14% more, 20 MiB 28.0-28.4 MB.
	memoryLimitBase = 19 << 20
	memoryLimitLive = 2 // × the live heap, for larger workspaces
)

var memoryLimitOnce sync.Once

// setSoftMemoryLimit installs the adaptive limit once per process.
func setSoftMemoryLimit() {
	memoryLimitOnce.Do(func() {
		debug.SetMemoryLimit(memoryLimitBase)
		armMemoryLimit()
	})
}

// gcSentinel is unreachable as soon as it is made: its finalizer runs after
// the next collection. It is larger than the tiny allocator's 16 bytes, whose
// objects may never be finalized.
type gcSentinel struct{ _ [64]byte }

// armMemoryLimit runs adjustMemoryLimit after the next collection, and
// re-arms itself there: the runtime's finalizer goroutine runs it, so no
// goroutine of the agent's is left behind.
func armMemoryLimit() {
	runtime.SetFinalizer(new(gcSentinel), func(*gcSentinel) {
		adjustMemoryLimit()
		armMemoryLimit()
	})
}

var liveHeap = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}

func adjustMemoryLimit() {
	metrics.Read(liveHeap)
	if liveHeap[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	live := int64(liveHeap[0].Value.Uint64())
	debug.SetMemoryLimit(max(memoryLimitBase, memoryLimitLive*live))
}
