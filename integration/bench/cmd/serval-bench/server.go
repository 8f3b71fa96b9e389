package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// servalProcess is a `serval serve` the bench started for its run.
type servalProcess struct {
	url, token string
	cmd        *exec.Cmd
	cancel     context.CancelFunc
	done       chan struct{} // closed when the process has exited
	exitErr    error         // how it exited; read after done is closed
	logPath    string
}

// startServal starts `serval serve` on a free loopback port with a fresh
// data directory and waits (bounded) until it listens and has written its
// initial token.
func startServal(ctx context.Context, bin, model string, extra []string, dataDir string) (*servalProcess, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--model", model, "--host", "127.0.0.1", "--port", "0",
		"--data-dir", dataDir, "--rate-limit", "-1"}, extra...)
	pctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(pctx, bin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Stdout = io.Discard
	logFile, err := os.Create(filepath.Join(dataDir, "serval.log"))
	if err != nil {
		cancel()
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		cancel()
		logFile.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &servalProcess{cmd: cmd, cancel: cancel, done: make(chan struct{}), logPath: logFile.Name()}
	addr := make(chan string, 1)
	go func() {
		// Owned by the process: ends when its stderr closes.
		defer logFile.Close()
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			line := s.Text()
			fmt.Fprintln(logFile, line)
			if u, ok := strings.CutPrefix(line, "serval: listening on "); ok {
				select {
				case addr <- strings.TrimSpace(u):
				default:
				}
			}
		}
	}()
	go func() {
		p.exitErr = cmd.Wait()
		close(p.done)
	}()

	deadline := time.NewTimer(120 * time.Second)
	defer deadline.Stop()
	select {
	case p.url = <-addr:
	case <-p.done:
		return nil, fmt.Errorf("serval exited before listening (log: %s)", logFile.Name())
	case <-deadline.C:
		p.stop()
		return nil, fmt.Errorf("serval did not listen within 120 s (log: %s)", logFile.Name())
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
	tokenPath := filepath.Join(dataDir, "initial-token")
	for i := 0; i < 100; i++ {
		data, err := os.ReadFile(tokenPath)
		if err == nil && strings.TrimSpace(string(data)) != "" {
			p.token = strings.TrimSpace(string(data))
			return p, nil
		}
		if !errors.Is(err, os.ErrNotExist) && err != nil {
			p.stop()
			return nil, err
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.stop()
	return nil, fmt.Errorf("serval wrote no %s", tokenPath)
}

// stop interrupts the server and waits for it to exit (bounded by WaitDelay).
func (p *servalProcess) stop() {
	p.cancel()
	<-p.done
}

// exited reports, without waiting, whether the server is gone and why.
func (p *servalProcess) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.exitErr
	default:
		return false, nil
	}
}
