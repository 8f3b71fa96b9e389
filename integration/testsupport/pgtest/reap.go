package pgtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// clusterPrefix starts the name of every cluster directory in the temp dir.
const clusterPrefix = "serval-pg-"

// ownerFile, in a cluster directory, names the process that owns the
// cluster: "<pid> <start time>", the start time as /proc/<pid>/stat gives
// it (0 where there is no /proc), so that a reused pid is not taken for the
// owner.
const ownerFile = "owner"

// writeOwner records this process as the owner of the cluster in dir.
func writeOwner(dir string) error {
	pid := os.Getpid()
	tmp := filepath.Join(dir, ownerFile+".tmp")
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d %d\n", pid, startTime(pid)), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, ownerFile)) // whole or not at all, for a reaper reading it
}

// ownerAlive reports whether the owner recorded in dir still runs; a
// directory without a readable owner (one being created) counts as owned.
func ownerAlive(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		return true
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return true
	}
	pid, err1 := strconv.Atoi(fields[0])
	start, err2 := strconv.ParseUint(fields[1], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 {
		return true
	}
	return processAlive(pid, start)
}

// processAlive reports whether process pid runs (a zombie does not) and,
// where /proc says when it started, started at start (0: any time).
func processAlive(pid int, start uint64) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	state, started, ok := procStat(pid)
	if !ok {
		return true // no /proc: kill's answer is all there is
	}
	return state != "Z" && (start == 0 || started == start) // another start time: the pid was reused
}

// startTime is when process pid started (clock ticks after boot), or 0
// without /proc.
func startTime(pid int) uint64 {
	_, start, _ := procStat(pid)
	return start
}

// procStat reads the state (field 3) and start time (field 22) of
// /proc/<pid>/stat; ok is false without it.
func procStat(pid int) (state string, start uint64, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", 0, false
	}
	// The command name (field 2) may hold spaces and ')': count from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", 0, false
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 {
		return "", 0, false
	}
	start, err = strconv.ParseUint(fields[19], 10, 64) // field 22 is the 20th after the name
	return fields[0], start, err == nil
}

// reapOrphans stops and removes the clusters under tmp whose owner is gone,
// and returns their directories. It runs pg_ctl from bin as cred (nil:
// this user). Errors leave a cluster for the next try.
func reapOrphans(bin string, cred *syscall.Credential, tmp string) []string {
	dirs, _ := filepath.Glob(filepath.Join(tmp, clusterPrefix+"*"))
	var reaped []string
	for _, dir := range dirs {
		if ownerAlive(dir) {
			continue
		}
		c := &Cluster{Dir: dir, bin: bin, cred: cred}
		if _, err := os.Stat(filepath.Join(c.dataDir(), "postmaster.pid")); err == nil {
			// Immediate: nothing in an orphan's databases is wanted.
			out, err := c.command("pg_ctl", "-D", c.dataDir(), "-m", "immediate", "-w", "-t", "30", "stop").CombinedOutput()
			if pid := c.postmasterPID(); err != nil && pid > 0 && processAlive(pid, 0) {
				fmt.Fprintf(os.Stderr, "pgtest: stopping the orphaned cluster %s: %v\n%s\n", dir, err, out)
				continue
			}
		}
		c.remove()
		reaped = append(reaped, dir)
	}
	return reaped
}

// postmasterPID is the server's pid from its postmaster.pid file, or 0.
func (c *Cluster) postmasterPID() int {
	b, err := os.ReadFile(filepath.Join(c.dataDir(), "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid
}
