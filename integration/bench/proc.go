package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ProcUsage is what /proc says a process tree has used.
type ProcUsage struct {
	CPU       time.Duration // user + system time of the process and its live descendants
	PeakRSSKB int64         // sum of VmHWM (peak resident set) over the same processes
	Processes int
}

// clockTicks is USER_HZ; 100 on every Linux this runs on.
const clockTicks = 100

// ReadProcUsage reads the usage of pid and its descendants from /proc.
// Call it while the process is alive (before asking it to exit).
func ReadProcUsage(pid int) (ProcUsage, error) {
	children := map[int][]int{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return ProcUsage{}, fmt.Errorf("read /proc: %w", err)
	}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(p); err == nil {
			children[st.ppid] = append(children[st.ppid], p)
		}
	}
	var u ProcUsage
	queue := []int{pid}
	for len(queue) > 0 && u.Processes < 1000 {
		p := queue[0]
		queue = queue[1:]
		st, err := readStat(p)
		if err != nil {
			if p == pid {
				return u, err
			}
			continue // exited meanwhile
		}
		u.Processes++
		u.CPU += time.Duration(st.utime+st.stime) * time.Second / clockTicks
		u.PeakRSSKB += readHWM(p)
		queue = append(queue, children[p]...)
	}
	return u, nil
}

type procStat struct {
	ppid         int
	utime, stime int64
}

func readStat(pid int) (procStat, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, err
	}
	return parseStat(data)
}

// parseStat reads /proc/PID/stat; the command name (field 2) may contain
// spaces and parentheses, so fields are counted from its last ')'.
func parseStat(data []byte) (procStat, error) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("malformed /proc stat")
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("short /proc stat")
	}
	ppid, err1 := strconv.Atoi(f[1])
	ut, err2 := strconv.ParseInt(f[11], 10, 64)
	stt, err3 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return procStat{}, fmt.Errorf("malformed /proc stat numbers")
	}
	return procStat{ppid: ppid, utime: ut, stime: stt}, nil
}

func readHWM(pid int) int64 {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
