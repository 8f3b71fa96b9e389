package store

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAuditAppendFilterPage(t *testing.T) { forEachDialect(t, testAuditAppendFilterPage) }

func testAuditAppendFilterPage(t *testing.T, s *Store) {
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	events := []AuditEvent{
		{Time: base, Actor: "ada", Action: AuditSignIn, Address: "10.0.0.1", Detail: "method password"},
		{Time: base.Add(time.Minute), Actor: "bob", Action: AuditSignIn, Outcome: AuditOutcomeFailure, Address: "10.0.0.2"},
		{Time: base.Add(2 * time.Minute), Actor: "ada", Action: AuditUserAdmin, Target: "bob"},
		{Time: base.Add(3 * time.Minute), Actor: "ada", Action: AuditUserDisable, Target: "eve"},
		{Time: base.Add(4 * time.Minute), Actor: "ADA", Action: AuditTokenCreate, Target: "ada/laptop"},
	}
	for _, e := range events {
		if err := s.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.AuditEvents(ctx, AuditFilter{})
	if err != nil || len(all) != 5 {
		t.Fatalf("all = %d events, %v", len(all), err)
	}
	if all[0].Action != AuditTokenCreate || all[4].Action != AuditSignIn || all[4].Outcome != AuditOutcomeSuccess {
		t.Fatalf("order or default outcome wrong: %+v", all)
	}
	if !all[4].Time.Equal(base) {
		t.Fatalf("time = %v, want %v", all[4].Time, base)
	}
	for _, tc := range []struct {
		f    AuditFilter
		want int
	}{
		{AuditFilter{Actor: "ada"}, 4}, // any case
		{AuditFilter{Action: "user."}, 2},
		{AuditFilter{Action: "user"}, 0},
		{AuditFilter{Action: AuditSignIn, Outcome: AuditOutcomeFailure}, 1},
		{AuditFilter{Since: base.Add(150 * time.Second)}, 2},
		{AuditFilter{Limit: 2}, 2},
		{AuditFilter{Before: all[1].ID}, 3},
	} {
		got, err := s.AuditEvents(ctx, tc.f)
		if err != nil || len(got) != tc.want {
			t.Errorf("%+v: %d events, %v; want %d", tc.f, len(got), err, tc.want)
		}
	}
	// Pages of two walk the whole log once.
	var seen []int64
	for before, i := int64(0), 0; i < 10; i++ {
		page, err := s.AuditEvents(ctx, AuditFilter{Limit: 2, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			seen = append(seen, e.ID)
		}
		before = page[len(page)-1].ID
	}
	if len(seen) != 5 {
		t.Fatalf("paging saw %v", seen)
	}
}

func TestAuditIsAppendOnly(t *testing.T) { forEachDialect(t, testAuditIsAppendOnly) }

func testAuditIsAppendOnly(t *testing.T, s *Store) {
	ctx := context.Background()
	if err := s.Audit(ctx, AuditEvent{Actor: "ada", Action: AuditSignIn}); err != nil {
		t.Fatal(err)
	}
	_, err := s.db.ExecContext(ctx, `UPDATE audit SET actor = 'mallory'`)
	if err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("update of the audit log: %v, want refused", err)
	}
	if err := s.Audit(ctx, AuditEvent{Actor: "ada"}); err == nil {
		t.Fatal("an event without an action was stored")
	}
}

func TestAuditCleansHostileFields(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	long := strings.Repeat("é", 600)
	if err := s.Audit(ctx, AuditEvent{Actor: "x\nFAKE sign-in success\x1b[31m", Action: AuditSignIn, Detail: long, Target: "\xff\xfe"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.AuditEvents(ctx, AuditFilter{})
	if err != nil || len(got) != 1 {
		t.Fatal(got, err)
	}
	e := got[0]
	if strings.ContainsAny(e.Actor, "\n\x1b") || len(e.Detail) > maxAuditDetail+4 || !strings.HasSuffix(e.Detail, "…") || e.Target != "�" {
		t.Fatalf("stored %q / %d bytes detail / target %q", e.Actor, len(e.Detail), e.Target)
	}
}

func TestPruneAudit(t *testing.T) { forEachDialect(t, testPruneAudit) }

func testPruneAudit(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Now()
	for _, age := range []time.Duration{100 * 24 * time.Hour, 50 * 24 * time.Hour, time.Hour} {
		if err := s.Audit(ctx, AuditEvent{Time: now.Add(-age), Actor: "ada", Action: AuditSignIn}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PruneAudit(ctx, now.Add(-90*24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want 1", n, err)
	}
	left, _ := s.AuditEvents(ctx, AuditFilter{})
	if len(left) != 2 {
		t.Fatalf("%d left, want 2", len(left))
	}
}

func FuzzAuditField(f *testing.F) {
	f.Add("ada", 10)
	f.Add("\x00\n\xff é", 3)
	f.Fuzz(func(t *testing.T, v string, max int) {
		if max < 1 || max > 1000 {
			return
		}
		got := cleanAuditField(v, max)
		if len(got) > max+len("…") || strings.ContainsAny(got, "\n\r\x00") || !utf8.ValidString(got) {
			t.Fatalf("cleanAuditField(%q, %d) = %q", v, max, got)
		}
	})
}
