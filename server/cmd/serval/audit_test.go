package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/server/store"
)

func TestAuditCommand(t *testing.T) {
	dir := t.TempDir()
	out, _, err := runCmd(t, dir, "audit")
	if err != nil || !strings.Contains(out, "no audit events") {
		t.Fatalf("empty log: %q, %v", out, err)
	}
	if _, _, err := runCmd(t, dir, "user", "create", "alice", "--url", "http://srv"); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCmd(t, dir, "token", "create", "--name", "laptop", "--user", "alice")
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(out[strings.LastIndexByte(strings.TrimSpace(out), '\n'):])
	if _, _, err := runCmd(t, dir, "token", "revoke", "alice/laptop"); err != nil {
		t.Fatal(err)
	}
	// An old event, outside --since.
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	err = st.Audit(context.Background(), store.AuditEvent{Time: time.Now().Add(-48 * time.Hour), Actor: "bob", Action: store.AuditSignIn, Address: "10.1.2.3", Outcome: store.AuditOutcomeFailure})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}

	out, _, err = runCmd(t, dir, "audit", "--since", "1d", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		for _, k := range []string{"time", "actor", "action", "target", "address", "outcome"} {
			if _, ok := e[k]; !ok {
				t.Errorf("line %q lacks %q", sc.Text(), k)
			}
		}
		if _, err := time.Parse(time.RFC3339, e["time"].(string)); err != nil {
			t.Errorf("time %v: %v", e["time"], err)
		}
		actions = append(actions, e["action"].(string)+" "+e["target"].(string))
	}
	want := "user.create alice, token.create alice/laptop, token.revoke alice/laptop"
	if strings.Join(actions, ", ") != want {
		t.Fatalf("actions = %v, want %s", actions, want)
	}
	if strings.Contains(out, secret) || strings.Contains(out, "reset?code") {
		t.Fatal("the audit log holds a secret")
	}
	out, _, err = runCmd(t, dir, "audit")
	if err != nil || !strings.Contains(out, "10.1.2.3") || !strings.Contains(out, "cli:") {
		t.Fatalf("table: %q %v", out, err)
	}
	if _, _, err := runCmd(t, dir, "audit", "--since", "yesterday"); !errors.Is(err, errUsage) {
		t.Fatalf("bad --since: %v", err)
	}
}

func TestAuditRetention(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, age := range []time.Duration{3 * time.Hour, time.Minute} {
		if err := st.Audit(ctx, store.AuditEvent{Time: time.Now().Add(-age), Actor: "a", Action: store.AuditSignIn}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := serveConfig{auditRetention: "2h"}
	retention, err := cfg.retention()
	if err != nil {
		t.Fatal(err)
	}
	stop := keepAuditRetention(ctx, st, retention, slog.New(slog.DiscardHandler))
	stop() // the first pass runs before the loop waits
	left, _ := st.AuditEvents(ctx, store.AuditFilter{})
	if len(left) != 1 {
		t.Fatalf("%d events left, want 1", len(left))
	}
	for _, bad := range []string{"0d", "soon", ""} {
		c := serveConfig{auditRetention: bad}
		if _, err := c.retention(); !errors.Is(err, errUsage) {
			t.Errorf("--audit-retention %q: %v", bad, err)
		}
	}
	if d, err := (&serveConfig{auditRetention: "forever"}).retention(); err != nil || d != 0 {
		t.Errorf("forever: %v %v", d, err)
	}
}
