//go:build !unix

package postprocess

import (
	"testing"
	"time"
)

// threadCPU is not measured here: the cpu-p50/p99 figures read zero.
func threadCPU(*testing.B) time.Duration { return 0 }
