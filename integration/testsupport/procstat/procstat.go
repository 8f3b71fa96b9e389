// Package procstat reads a process's CPU time from Linux's /proc, for tests
// and benchmarks that account where a machine's CPU went.
package procstat

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// ticksPerSecond is the kernel's USER_HZ, the unit of /proc's CPU times:
// 100 on every Linux architecture Serval builds for.
const ticksPerSecond = 100

// Stat is what this package reads of /proc/PID/stat.
type Stat struct {
	PPID int
	CPU  time.Duration // user + system time used so far
}

// Read returns pid's Stat.
func Read(pid int) (Stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Stat{}, err
	}
	return parse(string(b))
}

// parse reads "pid (comm) state ppid ... utime(14) stime(15) ...": comm
// may hold spaces and parentheses, so the fields start after the last ") ".
func parse(stat string) (Stat, error) {
	i := strings.LastIndex(stat, ") ")
	if i < 0 {
		return Stat{}, fmt.Errorf("procstat: no command name in %q", stat)
	}
	f := strings.Fields(stat[i+2:])
	if len(f) < 13 {
		return Stat{}, fmt.Errorf("procstat: %d fields after the command name, want 13 or more", len(f))
	}
	ppid, err1 := strconv.Atoi(f[1])
	utime, err2 := strconv.ParseInt(f[11], 10, 64)
	stime, err3 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || ppid < 0 || utime < 0 || stime < 0 ||
		utime > math.MaxInt64/int64(time.Second)/2 || stime > math.MaxInt64/int64(time.Second)/2 {
		return Stat{}, fmt.Errorf("procstat: malformed stat %q", stat)
	}
	return Stat{PPID: ppid, CPU: time.Duration(utime+stime) * time.Second / ticksPerSecond}, nil
}

// ChildrenCPU returns the CPU time used so far by ppid's live children.
func ChildrenCPU(ppid int) (time.Duration, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var total time.Duration
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := Read(pid)
		if err != nil || st.PPID != ppid {
			continue // gone meanwhile, or another's
		}
		total += st.CPU
	}
	return total, nil
}
