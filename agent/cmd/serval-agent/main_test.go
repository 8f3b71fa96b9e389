package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func frames(msgs ...string) io.ReadCloser {
	var b bytes.Buffer
	for _, m := range msgs {
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(m), m)
	}
	return io.NopCloser(&b)
}

func runAgent(t *testing.T, stdin io.ReadCloser, args ...string) (int, string, string) {
	t.Helper()
	home := t.TempDir()
	env := map[string]string{"HOME": home, "SERVAL_ENDPOINT": "http://127.0.0.1:1"}
	args = append([]string{"--config", filepath.Join(home, "agent.toml")}, args...)
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code := run(ctx, args, func(k string) string { return env[k] }, stdin, &stdout, &stderr)
	if ctx.Err() != nil {
		t.Fatal("run did not return")
	}
	return code, stdout.String(), stderr.String()
}

func TestVersionAndFlags(t *testing.T) {
	code, out, _ := runAgent(t, frames(), "--version")
	if code != 0 || !strings.HasPrefix(out, "serval-agent ") {
		t.Fatalf("--version: %d %q", code, out)
	}
	if code, _, errOut := runAgent(t, frames(), "--log-level", "loud"); code != 2 || !strings.Contains(errOut, "log-level") {
		t.Fatalf("bad --log-level: %d %q", code, errOut)
	}
	if code, _, _ := runAgent(t, frames(), "--no-such-flag"); code != 2 {
		t.Fatalf("unknown flag: %d", code)
	}
}

func TestSessionOverStdio(t *testing.T) {
	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}`
	shutdown := `{"jsonrpc":"2.0","id":2,"method":"shutdown"}`
	exit := `{"jsonrpc":"2.0","method":"exit"}`
	code, out, errOut := runAgent(t, frames(initialize, shutdown, exit), "--log-level", "debug")
	if code != 0 {
		t.Fatalf("shutdown + exit: code %d\n%s", code, errOut)
	}
	// stdout carries LSP frames only; the logs went to stderr.
	if !strings.HasPrefix(out, "Content-Length: ") || strings.Contains(out, "level=") {
		t.Fatalf("stdout is not clean LSP: %q", out)
	}
	if !strings.Contains(out, `"serverInfo":{"name":"serval-agent"`) || !strings.Contains(errOut, "serval-agent started") {
		t.Fatalf("stdout %q\nstderr %q", out, errOut)
	}
	// stdin closing without shutdown ends the process with code 1.
	if code, _, _ := runAgent(t, frames(initialize)); code != 1 {
		t.Fatalf("stdin closed: code %d", code)
	}
}

func TestLogFile(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "agent.log")
	_, _, errOut := runAgent(t, frames(), "--log-file", logPath)
	if strings.Contains(errOut, "serval-agent started") {
		t.Fatal("logs went to stderr despite --log-file")
	}
	if b, err := os.ReadFile(logPath); err != nil || !strings.Contains(string(b), "serval-agent started") {
		t.Fatalf("log file: %q %v", b, err)
	}
}

func TestBadEnvironmentStillStarts(t *testing.T) {
	home := t.TempDir()
	env := map[string]string{"HOME": home, "SERVAL_ENDPOINT": "not a url"}
	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}`
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	run(ctx, []string{"--config", filepath.Join(home, "agent.toml")}, func(k string) string { return env[k] }, frames(initialize), &stdout, &stderr)
	if !strings.Contains(stdout.String(), `"serverInfo"`) || !strings.Contains(stderr.String(), "configuration ignored") {
		t.Fatalf("stdout %q\nstderr %q", stdout.String(), stderr.String())
	}
}
