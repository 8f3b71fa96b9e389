package pgtest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestKilledOwnersClusterIsReaped: a test process that is killed leaves its
// cluster running (pg_ctl daemonises the server); the next Start stops it
// and removes its directory, and leaves the clusters of live owners alone.
func TestKilledOwnersClusterIsReaped(t *testing.T) {
	if os.Getenv("PGTEST_OWNER") == "1" {
		// The owner: start a cluster, say where, and wait to be killed (2 minutes at most).
		c, err := Start()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("cluster %s\n", c.Dir)
		time.Sleep(2 * time.Minute)
		c.Stop()
		return
	}
	if BinDir() == "" {
		if Required() {
			t.Fatal("PostgreSQL not installed (SERVAL_REQUIRE_POSTGRES=1)")
		}
		t.Skip("PostgreSQL not installed")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledOwnersClusterIsReaped$", "-test.v")
	cmd.Env = append(os.Environ(), "PGTEST_OWNER=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var dir string
	timeout := time.After(2 * time.Minute)
	for dir == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("the owner process ended without starting a cluster")
			}
			dir, _ = strings.CutPrefix(line, "cluster ")
			if dir == line {
				dir = ""
			}
		case <-timeout:
			t.Fatal("the owner process started no cluster in 2 minutes")
		}
	}
	orphan := &Cluster{Dir: dir}
	pid := orphan.postmasterPID()
	if pid == 0 {
		t.Fatalf("no postmaster.pid in %s", dir)
	}
	cmd.Process.Kill()
	cmd.Wait()
	go func() {
		for range lines { // drain
		}
	}()
	if !processAlive(pid, 0) {
		t.Fatalf("the cluster's server (pid %d) ended with its owner: nothing to reap", pid)
	}

	// A live owner's cluster (this process's) is left alone.
	mine, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Stop()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the killed owner's cluster %s is still there after Start: %v", dir, err)
	}
	for i := 0; processAlive(pid, 0); i++ {
		if i == 100 {
			t.Fatalf("the killed owner's server (pid %d) still runs after Start", pid)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if reaped := reapOrphans(mine.bin, mine.cred, filepath.Dir(mine.Dir)); slices.Contains(reaped, mine.Dir) {
		t.Fatalf("reaped %v, a live owner's cluster among them", reaped)
	}
	if _, err := os.Stat(mine.Dir); err != nil {
		t.Fatalf("a live owner's cluster was removed: %v", err)
	}
}
