package main

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestSoftMemoryLimitFollowsTheLiveHeap(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	setSoftMemoryLimit()
	runtime.GC()
	if got := debug.SetMemoryLimit(-1); got < memoryLimitBase || got > 2*memoryLimitBase {
		t.Fatalf("limit %d with a small heap, want about %d", got, memoryLimitBase)
	}
	// A workspace whose live heap is well above the base: the limit must
	// move out of its way, or the collector would run without pause.
	live := make([][]byte, 64)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	deadline := time.Now().Add(10 * time.Second)
	for debug.SetMemoryLimit(-1) < 2*64<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("limit %d with a 64 MB live heap, want at least %d", debug.SetMemoryLimit(-1), 2*64<<20)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	runtime.KeepAlive(live)
}
