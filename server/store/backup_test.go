package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestBackupWhileWriting: a backup taken while another handle keeps writing
// is a whole database holding a prefix of the writes.
func TestBackupWhileWriting(t *testing.T) {
	dir := copyFixture(t)
	ctx := context.Background()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writeErr error
	wg.Go(func() {
		for i := 0; i < 2000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.AddEvent(ctx, Event{TokenName: "alice", Type: "view", CompletionID: fmt.Sprint("w", i), Language: "rust"}); err != nil {
				writeErr = err
				return
			}
		}
	})
	dst := filepath.Join(t.TempDir(), "backup.db")
	err = Backup(ctx, dir, dst)
	close(stop)
	wg.Wait()
	if err != nil || writeErr != nil {
		t.Fatalf("backup: %v; writes: %v", err, writeErr)
	}
	restored := t.TempDir()
	if _, err := Restore(ctx, restored, dst); err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, restored)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if name, err := b.LookupToken(ctx, fixtureAliceToken); err != nil || name != "alice" {
		t.Fatalf("token in the backup: %q %v", name, err)
	}
	events, err := b.Events(ctx, 10000)
	if err != nil || len(events) < 5 {
		t.Fatalf("backup events = %d, %v", len(events), err)
	}
	for i, e := range events[5:] {
		if e.CompletionID != fmt.Sprint("w", i) {
			t.Fatalf("backup event %d = %s: not a prefix of the writes", i+5, e.CompletionID)
		}
	}
	if err := Backup(ctx, dir, dst); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("backup over an existing file: %v", err)
	}
}

// TestRestoreReplacesAndKeepsThePrevious: restore → the backup's tokens and
// events; the replaced database is saved, not lost.
func TestRestoreReplacesAndKeepsThePrevious(t *testing.T) {
	ctx := context.Background()
	backup := filepath.Join(t.TempDir(), "fixture.db")
	if err := Backup(ctx, copyFixture(t), backup); err != nil {
		t.Fatal(err)
	}
	// A data directory with other data, whose last write is still in its WAL.
	dir := t.TempDir()
	other, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	otherToken, _ := other.CreateToken(ctx, "other")
	other.Close()

	r, err := Restore(ctx, dir, backup)
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != 1 || r.Previous == "" {
		t.Fatalf("restored = %+v", r)
	}
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkFixtureData(t, s)
	if _, err := s.LookupToken(ctx, otherToken); !errors.Is(err, ErrNotFound) {
		t.Fatalf("token of the replaced database still works: %v", err)
	}
	prev, err := OpenFile(ctx, r.Previous)
	if err != nil {
		t.Fatal(err)
	}
	defer prev.Close()
	if name, err := prev.LookupToken(ctx, otherToken); err != nil || name != "other" {
		t.Fatalf("saved previous database lost its token: %q %v", name, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestRestoreRefusals: each bad restore says why and leaves the data as it was.
func TestRestoreRefusals(t *testing.T) {
	ctx := context.Background()
	good := filepath.Join(t.TempDir(), "good.db")
	if err := Backup(ctx, copyFixture(t), good); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.db")
	os.WriteFile(garbage, bytes.Repeat([]byte("not sqlite "), 1000), 0o600)
	newer := filepath.Join(t.TempDir(), "newer.db")
	{
		b, _ := os.ReadFile(good)
		os.WriteFile(newer, b, 0o600)
		db, err := openRaw(newer)
		if err != nil {
			t.Fatal(err)
		}
		db.Exec("PRAGMA journal_mode=DELETE")
		db.Exec("PRAGMA user_version = 99")
		db.Close()
	}
	live := filepath.Join(copyFixture(t), FileName)
	os.WriteFile(live+"-wal", []byte{}, 0o600)

	cases := []struct {
		name, src, want string
		lock            bool
	}{
		{"missing", filepath.Join(t.TempDir(), "nope.db"), "no such file", false},
		{"garbage", garbage, "not a usable serval backup", false},
		{"newer", newer, "newer serval", false},
		{"live database", live, "live database", false},
		{"server running", good, "in use by a running serval", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyFixture(t)
			db := filepath.Join(dir, FileName)
			before, _ := os.ReadFile(db)
			if c.lock {
				unlock, err := LockDataDir(dir, false)
				if err != nil {
					t.Fatal(err)
				}
				defer unlock()
			}
			_, err := Restore(ctx, dir, c.src)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			after, _ := os.ReadFile(db)
			if !bytes.Equal(before, after) {
				t.Error("the database changed")
			}
			if files, _ := filepath.Glob(db + ".*"); len(files) > 0 {
				t.Errorf("files left beside the database: %v", files)
			}
		})
	}
}

func TestServersShareTheLock(t *testing.T) {
	dir := t.TempDir()
	a, err := LockDataDir(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LockDataDir(dir, false)
	if err != nil {
		t.Fatalf("second server: %v", err)
	}
	b()
	a()
	c, err := LockDataDir(dir, true)
	if err != nil {
		t.Fatalf("exclusive after the servers stopped: %v", err)
	}
	if _, err := LockDataDir(dir, false); err == nil || !strings.Contains(err.Error(), "restore is in progress") {
		t.Fatalf("server during a restore: %v", err)
	}
	c()
}
