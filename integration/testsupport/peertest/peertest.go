// Package peertest runs the engines Serval is tested against and compared
// with, llama.cpp's llama-server and Ollama, as real processes on free
// loopback ports for tests and benchmarks. The binaries come from
// integration/peers/build.sh (`make peers`), cached per version outside the
// checkout; when they are missing a test skips with one line, or fails under
// SERVAL_REQUIRE_PEERS=1 (make test). Every wait is bounded and every process
// (with its children: Ollama's runners) is killed when the test ends.
package peertest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/llamalib"
	"github.com/servalhq/serval/integration/testsupport/procstat"
)

// startBound bounds a peer's start (and an Ollama model import): far above
// the seconds they take, since a 2-core machine at a load average of 30
// starves every process; it only tells a hang from a slow start.
const startBound = 5 * time.Minute

var dirs struct {
	sync.Once
	paths map[string]string
	err   error
}

// Binary returns the path of peer "llama-server" or "ollama", as
// integration/peers/build.sh names it, skipping the test when it was not
// built (failing under SERVAL_REQUIRE_PEERS=1).
func Binary(t testing.TB, name string) string {
	t.Helper()
	dirs.Do(func() {
		root := llamalib.RepoRoot()
		out, err := exec.Command(filepath.Join(root, "integration", "peers", "build.sh"), "dirs").Output()
		if err != nil {
			dirs.err = fmt.Errorf("integration/peers/build.sh dirs: %w", err)
			return
		}
		dirs.paths = map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				dirs.paths[k] = v
			}
		}
	})
	if dirs.err != nil {
		t.Fatal(dirs.err)
	}
	p := dirs.paths[name]
	if _, err := os.Stat(p); p == "" || err != nil {
		msg := fmt.Sprintf("peer %s not built at %q: run `make peers`", name, p)
		if os.Getenv("SERVAL_REQUIRE_PEERS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// FreePort returns a loopback port that was free a moment ago, so that a
// peer can be restarted on the same address.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Process is a running peer.
type Process struct {
	Name string
	URL  string // http://127.0.0.1:PORT
	Port int

	t     testing.TB
	bin   string
	args  []string
	env   []string
	ready func() error // nil once the peer serves

	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *logBuffer // every run's output, appended
	done chan struct{}
	err  error
}

// start starts the process and waits (at most limit) until ready says it serves.
func (p *Process) start(limit time.Duration) {
	t := p.t
	t.Helper()
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = p.out, p.out
	// Its own process group: Kill takes Ollama's runner children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.Name, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done, p.err = cmd, done, nil
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
	deadline := time.Now().Add(limit)
	var err error
	for {
		if err = p.ready(); err == nil {
			return
		}
		select {
		case <-done:
			t.Fatalf("%s exited before serving: %v\n%s", p.Name, p.exitErr(), p.Logs())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Kill()
			t.Fatalf("%s not serving within %s (%v):\n%s", p.Name, limit, err, p.Logs())
		}
	}
}

func (p *Process) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// PID is the running peer's process id (0 when not running); its children
// (Ollama's model runners) are in its process group.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Logs returns what the peer wrote so far (all runs).
func (p *Process) Logs() string { return p.out.String() }

// Kill kills the peer and its children at once (SIGKILL to its process
// group) and waits for it: a crash, as far as its clients can tell.
func (p *Process) Kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// Restart starts the peer again on the same port with the same arguments,
// after Kill.
func (p *Process) Restart(limit time.Duration) {
	p.t.Helper()
	p.Kill()
	p.start(limit)
}

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// newProcess prepares a peer on a free port and stops it with the test.
func newProcess(t testing.TB, name, bin string, port int, args, env []string, ready func(p *Process) error) *Process {
	p := &Process{Name: name, Port: port, URL: fmt.Sprintf("http://127.0.0.1:%d", port), t: t, bin: bin, args: args,
		env: append(os.Environ(), env...), out: &logBuffer{}}
	p.ready = func() error { return ready(p) }
	t.Cleanup(p.Kill)
	return p
}

// get fetches url with a short timeout and returns the status and body.
func get(url string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String(), nil
}

// logBuffer collects output safely for concurrent writers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// ChildrenCPU returns the CPU time (user + system) used so far by the
// peer's live child processes (Ollama's model runners).
func (p *Process) ChildrenCPU() (time.Duration, error) {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil {
		return 0, fmt.Errorf("%s not started", p.Name)
	}
	return procstat.ChildrenCPU(cmd.Process.Pid)
}
