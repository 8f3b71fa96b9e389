package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/buildinfo"
	"github.com/servalhq/serval/server/store"
)

func runCmd(t *testing.T, dataDir string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := func(k string) string {
		if k == "SERVAL_DATA_DIR" {
			return dataDir
		}
		return ""
	}
	err := run(context.Background(), args, env, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func TestTokenCommands(t *testing.T) {
	dir := t.TempDir()
	out, _, err := runCmd(t, dir, "token", "create", "--name", "laptop")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	tok := lines[len(lines)-1]
	if !strings.HasPrefix(tok, "srv_") || len(tok) != 36 {
		t.Fatalf("last line %q is not the token", tok)
	}
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	name, err := st.LookupToken(context.Background(), tok)
	st.Close()
	if err != nil || name != "laptop" {
		t.Fatalf("lookup %q %v", name, err)
	}

	if _, _, err := runCmd(t, dir, "token", "create"); !errors.Is(err, errUsage) {
		t.Errorf("create without a name: %v", err)
	}
	if _, _, err := runCmd(t, dir, "token", "create", "--name", "laptop"); !errors.Is(err, store.ErrTokenExists) {
		t.Errorf("duplicate: %v", err)
	}
	out, _, err = runCmd(t, dir, "token", "list")
	if err != nil || !strings.Contains(out, "laptop") || strings.Contains(out, tok) {
		t.Fatalf("list %q %v", out, err)
	}
	if _, _, err := runCmd(t, dir, "token", "revoke", "laptop"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(t, dir, "token", "revoke", "--name", "laptop"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoke twice: %v", err)
	}
	out, _, _ = runCmd(t, dir, "token", "list")
	if !strings.Contains(out, "no tokens") {
		t.Errorf("list after revoke: %q", out)
	}
	if _, _, err := runCmd(t, dir, "token", "frob"); !errors.Is(err, errUsage) {
		t.Errorf("unknown subcommand: %v", err)
	}
}

func TestStatsCommand(t *testing.T) {
	dir := t.TempDir()
	st0, err := store.Open(context.Background(), dir) // a server's data directory, no events yet
	if err != nil {
		t.Fatal(err)
	}
	st0.Close()
	out, _, err := runCmd(t, dir, "stats")
	if err != nil || !strings.Contains(out, "no events") {
		t.Fatalf("%q %v", out, err)
	}
	st, _ := store.Open(context.Background(), dir)
	for _, e := range []store.Event{
		{TokenName: "a", Type: "view", CompletionID: "1", Language: "go"},
		{TokenName: "a", Type: "view", CompletionID: "2", Language: "go"},
		{TokenName: "a", Type: "select", CompletionID: "1", Language: "go"},
		{TokenName: "a", Type: "view", CompletionID: "3", Language: "python"},
	} {
		if err := st.AddEvent(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	out, _, err = runCmd(t, dir, "stats")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"LANGUAGE", "50.0%", "python", "0.0%", "33.3%"} {
		if !strings.Contains(out, want) {
			t.Errorf("stats output lacks %q:\n%s", want, out)
		}
	}
}

func TestServeFlagValidation(t *testing.T) {
	for _, args := range [][]string{
		{"--no-auth", "--host", "0.0.0.0"},
		{"--no-auth", "--host", "192.168.1.5"},
		{"--no-auth", "--host", ""},
		{"--parallel", "0"},
		{"--port", "70000"},
		{"--max-queue", "-2"},
		{"--rate-burst", "0"},
		{"--threads", "-1"},
		{"--bogus"},
		{"extra-arg"},
	} {
		_, _, err := runCmd(t, t.TempDir(), append([]string{"serve"}, args...)...)
		if !errors.Is(err, errUsage) {
			t.Errorf("serve %q: err = %v, want a usage error", args, err)
		}
	}
	for host, want := range map[string]bool{"127.0.0.1": true, "::1": true, "localhost": true, "127.0.0.2": true, "0.0.0.0": false, "": false, "example.com": false} {
		if isLoopback(host) != want {
			t.Errorf("isLoopback(%q) = %v", host, !want)
		}
	}
}

func TestServeHelp(t *testing.T) {
	stdout, _, err := runCmd(t, t.TempDir(), "serve", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"--model", "--host", "--port", "--data-dir", "--device", "--parallel", "--max-queue", "--ctx-size", "--threads", "--lib-dir", "--prompt-template", "--registry", "--no-auth", "--rate-limit", "--log-level", "--log-format"} {
		if !strings.Contains(stdout, flag) {
			t.Errorf("--help lacks %s", flag)
		}
	}
}

func TestInitialToken(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out bytes.Buffer
	if err := ensureInitialToken(context.Background(), st, dir, &out); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, initialTokenFile)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%v %v", fi, err)
	}
	b, _ := os.ReadFile(path)
	tok := strings.TrimSpace(string(b))
	if !strings.HasSuffix(strings.TrimSpace(out.String()), tok) {
		t.Fatalf("printed %q, file %q", out.String(), tok)
	}
	if name, err := st.LookupToken(context.Background(), tok); err != nil || name != "initial" {
		t.Fatalf("%q %v", name, err)
	}
	// With a token present nothing happens.
	out.Reset()
	if err := ensureInitialToken(context.Background(), st, dir, &out); err != nil || out.Len() != 0 {
		t.Fatalf("second call printed %q, %v", out.String(), err)
	}
}

func TestServeStopsOnCancelWhileStarting(t *testing.T) {
	// A cancelled context (SIGINT during startup) ends serve promptly with an
	// error rather than hanging; here the model resolution fails first.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--port", "0", "--model", "/nonexistent/model.gguf", "--data-dir", t.TempDir()}, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{})
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("serve succeeded")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not return")
	}
}

func TestMiscCommands(t *testing.T) {
	out, _, err := runCmd(t, t.TempDir(), "version")
	if err != nil || !strings.HasPrefix(out, "serval "+buildinfo.Read().Version) {
		t.Fatalf("%q %v", out, err)
	}
	if _, _, err := runCmd(t, t.TempDir()); !errors.Is(err, errUsage) {
		t.Errorf("no command: %v", err)
	}
	if _, _, err := runCmd(t, t.TempDir(), "launch"); !errors.Is(err, errUsage) {
		t.Errorf("unknown command: %v", err)
	}
	if out, _, err := runCmd(t, t.TempDir(), "help"); err != nil || !strings.Contains(out, "token create") {
		t.Errorf("help: %q %v", out, err)
	}
	if got := defaultDataDir(func(k string) string {
		if k == "HOME" {
			return "/home/u"
		}
		return ""
	}); got != "/home/u/.serval" {
		t.Errorf("default data dir %q", got)
	}
}
