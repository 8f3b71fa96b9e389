// Package servaltest starts the real serval binary for tests of every area:
// it builds (or finds in $SERVAL_BIN_DIR) bin/serval, writes the generated
// test model, starts `serval serve` on a free loopback port with a temporary
// data directory, reads the initial token and waits for /v1/health. Every
// wait is bounded; the server is stopped when the test ends.
package servaltest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/ggufgen"
	"github.com/servalhq/serval/integration/testsupport/llamalib"
	"github.com/servalhq/serval/server/api"
)

// Options configure Start. The zero value starts a server on the generated
// test model with auth on.
type Options struct {
	// Args are extra `serval serve` flags (for example "--parallel", "2").
	Args []string
	// Model is the --model value; "" writes the generated test model.
	Model string
	// ModelOptions shape the generated test model.
	ModelOptions ggufgen.Options
	// DataDir is the --data-dir; "" makes a temporary one.
	DataDir string
	// Env is added to the server's environment.
	Env []string
	// Binary is the serval executable; "" uses Binary(t).
	Binary string
	// StartTimeout bounds the wait for the server to listen (0: 2 minutes,
	// generous for a loaded 2-core CI machine).
	StartTimeout time.Duration
	// Wrapper runs Binary through another program (an emulator:
	// {"qemu-aarch64-static", "-L", sysroot}).
	Wrapper []string
}

// Server is a running serval process.
type Server struct {
	URL       string // http://127.0.0.1:PORT
	Token     string // the initial token ("" with --no-auth)
	DataDir   string
	ModelPath string
	Client    *api.Client // authenticated with Token

	t       testing.TB
	bin     string
	wrapper []string
	args    []string
	env     []string
	wait    time.Duration

	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *logBuffer
	done chan struct{} // closed when the process exited
	err  error         // the process's exit status, once done
}

// Start starts serval and waits until it answers /v1/health. It skips the
// test when the llama.cpp libraries are missing (fails with SERVAL_REQUIRE_LLAMA=1).
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	libDir := llamalib.Dir(t)
	bin := opts.Binary
	if bin == "" {
		bin = Binary(t)
	}
	s := &Server{t: t, bin: bin, wrapper: opts.Wrapper, DataDir: opts.DataDir, wait: opts.StartTimeout}
	if s.DataDir == "" {
		s.DataDir = t.TempDir()
	}
	if s.wait <= 0 {
		s.wait = 2 * time.Minute
	}
	s.ModelPath = opts.Model
	if s.ModelPath == "" {
		s.ModelPath = TestModel(t, opts.ModelOptions)
	}
	s.args = []string{"serve", "--model", s.ModelPath, "--host", "127.0.0.1", "--port", "0", "--data-dir", s.DataDir, "--lib-dir", libDir}
	if !hasFlag(opts.Args, "--threads") {
		// The CI machine has 2 cores shared with the test process; spinning
		// llama.cpp threads must not take both.
		s.args = append(s.args, "--threads", "1")
	}
	s.args = append(s.args, opts.Args...)
	s.env = append(os.Environ(), opts.Env...)
	s.start()
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Logf("serval stop: %v", err)
		}
	})
	return s
}

func hasFlag(args []string, name string) bool {
	return slices.ContainsFunc(args, func(a string) bool { return a == name || strings.HasPrefix(a, name+"=") })
}

var listenLine = regexp.MustCompile(`serval: listening on (http://[0-9.:\[\]]+)`)

func (s *Server) start() {
	t := s.t
	t.Helper()
	s.mu.Lock()
	s.out = &logBuffer{notify: make(chan struct{}, 1)}
	argv := append(append(slices.Clone(s.wrapper), s.bin), s.args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = s.env
	cmd.Stdout = s.out
	cmd.Stderr = s.out
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		t.Fatalf("start serval: %v", err)
	}
	s.cmd, s.done, s.err = cmd, make(chan struct{}), nil
	done := s.done
	go func() {
		err := cmd.Wait()
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(done)
	}()
	out := s.out
	s.mu.Unlock()

	deadline := time.NewTimer(s.wait)
	defer deadline.Stop()
	for {
		if m := listenLine.FindStringSubmatch(out.String()); m != nil {
			s.URL = m[1]
			break
		}
		select {
		case <-out.notify:
		case <-done:
			t.Fatalf("serval exited before listening: %v\n%s", s.exitErr(), out.String())
		case <-deadline.C:
			s.Kill()
			t.Fatalf("serval did not listen within %s:\n%s", s.wait, out.String())
		}
	}
	if !hasFlag(s.args, "--no-auth") {
		b, err := os.ReadFile(filepath.Join(s.DataDir, "initial-token"))
		if err != nil {
			t.Fatalf("read the initial token: %v\n%s", err, out.String())
		}
		s.Token = strings.TrimSpace(string(b))
	}
	c, err := api.NewClient(s.URL, s.Token, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Client = c
	// The listening line comes after the model loaded, so health answers at
	// once; a few tries cover a slow machine.
	var herr error
	for range 50 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, herr = c.Health(ctx)
		cancel()
		if herr == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("serval /v1/health: %v\n%s", herr, out.String())
}

func (s *Server) exitErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// PID is the running server's process id (0 when not running), for
// benchmarks that read its memory and CPU from /proc.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Logs returns what the server wrote to stdout and stderr so far.
func (s *Server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// Stop sends SIGTERM and waits (at most 30 s, then kills) for the process
// to exit; it returns the exit error (nil for a clean shutdown).
func (s *Server) Stop() error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return s.exitErr()
	default:
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return s.exitErr()
	case <-time.After(2 * time.Minute): // generous: a loaded machine drains slowly
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("serval did not stop within 2 min of SIGTERM; killed")
	}
}

// Kill kills the process at once and waits for it.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// Restart stops the server and starts it again with the same flags and data
// directory (a new port; the token stays valid).
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.Stop(); err != nil {
		s.t.Logf("serval stop: %v", err)
	}
	s.start()
}

// Exited reports whether the process has exited, and its exit error.
func (s *Server) Exited() (bool, error) {
	select {
	case <-s.done:
		return true, s.exitErr()
	default:
		return false, nil
	}
}

// logBuffer collects output and signals each write.
type logBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	notify chan struct{}
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	n, err := l.buf.Write(p)
	l.mu.Unlock()
	select {
	case l.notify <- struct{}{}:
	default:
	}
	return n, err
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// builds holds, per binary name, the one build this test process makes.
var builds sync.Map // name → *builtBinary

type builtBinary struct {
	once sync.Once
	path string
	err  error
}

// Binary returns the path of a serval binary: $SERVAL_BIN_DIR/serval when
// set (make test builds it), else one built from this checkout into
// <repo>/.cache/servaltest (once per test process).
func Binary(t testing.TB) string {
	t.Helper()
	return binary(t, "serval", "./server/cmd/serval")
}

// AgentBinary is Binary for serval-agent.
func AgentBinary(t testing.TB) string {
	t.Helper()
	return binary(t, "serval-agent", "./agent/cmd/serval-agent")
}

func binary(t testing.TB, name, pkg string) string {
	t.Helper()
	if dir := os.Getenv("SERVAL_BIN_DIR"); dir != "" {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("SERVAL_BIN_DIR=%s has no %s binary (run make build): %v", dir, name, err)
		}
		return p
	}
	v, _ := builds.LoadOrStore(name, &builtBinary{})
	b := v.(*builtBinary)
	b.once.Do(func() { b.path, b.err = build(name, pkg) })
	if b.err != nil {
		t.Fatalf("build %s: %v", name, b.err)
	}
	return b.path
}

func build(name, pkg string) (string, error) {
	root := llamalib.RepoRoot()
	if root == "" {
		return "", errors.New("not inside the serval module")
	}
	dir := filepath.Join(root, ".cache", "servaltest")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Build to a private name and rename, so test packages running at the
	// same time never run a half-written binary.
	tmp, err := os.CreateTemp(dir, name+"-*.tmp")
	if err != nil {
		return "", err
	}
	tmp.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp.Name(), pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("%v\n%s", err, out)
	}
	final := filepath.Join(dir, name)
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", err
	}
	return final, nil
}

// TestModel writes the generated test model into a temporary directory and
// returns its path.
func TestModel(t testing.TB, opts ggufgen.Options) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "serval-test.gguf")
	if err := ggufgen.WriteTestModel(p, opts); err != nil {
		t.Fatalf("write the test model: %v", err)
	}
	return p
}
