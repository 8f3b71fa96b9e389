//go:build unix

package web

import (
	"syscall"
	"time"
)

// processCPU is the CPU time this process has used (user + system): on a
// shared machine it measures a page's work where wall time mostly measures
// the wait for a core.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
