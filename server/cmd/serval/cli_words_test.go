package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Printed links point at the server that runs with this data directory, or
// say that they guess.
func TestInviteLinkFollowsTheRunningServer(t *testing.T) {
	dir := t.TempDir()
	out, errOut, err := runCmd(t, dir, "invite", "create")
	if err != nil || !strings.Contains(out, "http://localhost:8080/register?invite=") || !strings.Contains(errOut, "pass --url") {
		t.Fatalf("invite create without a server: %q %q %v", out, errOut, err)
	}
	if err := os.WriteFile(filepath.Join(dir, serverURLFile), []byte("http://localhost:18500\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err = runCmd(t, dir, "invite", "create")
	if err != nil || !strings.Contains(out, "http://localhost:18500/register?invite=") || errOut != "" {
		t.Fatalf("invite create with the server's address noted: %q %q %v", out, errOut, err)
	}
	out, _, err = runCmd(t, dir, "invite", "create", "--url", "https://serval.example/")
	if err != nil || !strings.Contains(out, "https://serval.example/register?invite=") {
		t.Fatalf("invite create --url: %q %v", out, err)
	}
}

func TestBackupHintKeepsTheDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my data")
	if _, _, err := runCmd(t, dir, "token", "create", "--name", "x"); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "b.db")
	out, _, err := runCmd(t, dir, "backup", file)
	if err != nil || !strings.Contains(out, "serval restore --data-dir '"+dir+"' "+file) {
		t.Fatalf("backup: %q %v", out, err)
	}
}

func TestStatsCreatesNoDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nothing-here")
	_, _, err := runCmd(t, dir, "stats")
	if err == nil || !strings.Contains(err.Error(), "pass --data-dir") {
		t.Fatalf("stats without a database: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("stats made %s: %v", dir, err)
	}
}
