package store

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkAddEvent measures the write path of /v1/events: one op stores a
// view and then a select of a new completion, into a database that already
// holds 100,000 events of 100 accounts over 30 days, and reports the p50/p99
// of the single writes, on SQLite and on PostgreSQL:
//
//	go test -run '^$' -bench AddEvent -benchtime 2000x ./server/store/
func BenchmarkAddEvent(b *testing.B) {
	eachDialectBench(b, benchAddEvent)
}

// eachDialectBench runs fn on a fresh SQLite store and a fresh PostgreSQL one.
func eachDialectBench(b *testing.B, fn func(b *testing.B, s *Store)) {
	b.Run("sqlite", func(b *testing.B) {
		s, _ := openTemp(b)
		fn(b, s)
	})
	b.Run("postgres", func(b *testing.B) { fn(b, openPostgresTemp(b)) })
}

// reportPercentiles reports the p50 and p99 of times in ms.
func reportPercentiles(b *testing.B, times []time.Duration) {
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(times[(len(times)*99)/100].Microseconds())/1000, "p99-ms")
}

func benchAddEvent(b *testing.B, s *Store) {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return now })
	langs := []string{"go", "python", "typescript", "rust", "java", "c"}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	insert, err := tx.PrepareContext(ctx, `INSERT INTO events(created_at, token_name, type, completion_id, choice_index, language, latency_ms)
			VALUES (?, ?, ?, ?, 0, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 100_000 {
		typ := "view"
		if i%3 == 0 {
			typ = "select"
		}
		_, err := insert.ExecContext(ctx, now.Add(-time.Duration(i%(30*24))*time.Hour).UnixMilli(),
			fmt.Sprintf("user%03d/laptop", i%100), typ, fmt.Sprintf("cmpl-%d", i/2), langs[i%len(langs)], 20+i%200)
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	times := make([]time.Duration, 0, 2*b.N)
	lat := 120 * time.Millisecond
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("bench-%d", i)
		for _, typ := range []string{"view", "select"} {
			e := Event{TokenName: fmt.Sprintf("user%03d/laptop", i%100), Type: typ, CompletionID: id, Language: langs[i%len(langs)]}
			if typ == "view" {
				e.Latency = &lat
			}
			start := time.Now()
			if err := s.AddEvent(ctx, e); err != nil {
				b.Fatal(err)
			}
			times = append(times, time.Since(start))
		}
	}
	b.StopTimer()
	reportPercentiles(b, times)
}

// BenchmarkLookupToken measures the token check every API request makes
// (with 1,000 tokens stored), p50/p99, on both dialects:
//
//	go test -run '^$' -bench LookupToken -benchtime 5000x ./server/store/
func BenchmarkLookupToken(b *testing.B) {
	eachDialectBench(b, func(b *testing.B, s *Store) {
		ctx := context.Background()
		var secrets []string
		for i := range 1000 {
			secret, err := s.CreateToken(ctx, fmt.Sprintf("tok%04d", i))
			if err != nil {
				b.Fatal(err)
			}
			secrets = append(secrets, secret)
		}
		times := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := range b.N {
			start := time.Now()
			if _, err := s.LookupToken(ctx, secrets[i%len(secrets)]); err != nil {
				b.Fatal(err)
			}
			times = append(times, time.Since(start))
		}
		b.StopTimer()
		reportPercentiles(b, times)
	})
}

// BenchmarkUsageTotals measures what the usage pages read: the totals of
// the last 30 days for everyone and for one account, with 100 accounts and
// $SERVAL_BENCH_EVENTS events (default 1,000,000) over 90 days. SQLite
// stores them through the summary triggers; PostgreSQL in bulk, the
// summaries built in one pass (storeBenchEvents):
//
//	go test -run '^$' -bench UsageTotals -benchtime 200x ./server/store/
func BenchmarkUsageTotals(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("SERVAL_BENCH_EVENTS")); err == nil && v > 0 {
		n = v
	}
	eachDialectBench(b, func(b *testing.B, s *Store) {
		ctx := context.Background()
		now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
		start := time.Now()
		storeBenchEvents(b, s, now, n, s.IsPostgres())
		b.Logf("%s: %d events stored in %v", s.dialect, n, time.Since(start).Round(time.Millisecond))
		since := now.AddDate(0, 0, -29)
		times := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := range b.N {
			owner := ""
			if i%2 == 1 {
				owner = fmt.Sprintf("user%d", i%100)
			}
			start := time.Now()
			if _, err := s.Totals(ctx, owner, since); err != nil {
				b.Fatal(err)
			}
			if _, err := s.Latencies(ctx, owner, since); err != nil {
				b.Fatal(err)
			}
			times = append(times, time.Since(start))
		}
		b.StopTimer()
		reportPercentiles(b, times)
	})
}

// storeBenchEvents generates n events of 100 accounts over the 90 days
// before now in the database, in one statement. Through the triggers
// (bulk false) they fill the summaries as events stored one by one do:
// about 1 ms an event on PostgreSQL, over 17 minutes for a million. In bulk
// (PostgreSQL only) the triggers are off while the events go in, and
// summarizeEventsSQL then builds the summaries in one pass, to the same
// rows (TestBulkSummariesMatchTriggers).
func storeBenchEvents(tb testing.TB, s *Store, now time.Time, n int, bulk bool) {
	tb.Helper()
	ctx := context.Background()
	series := `WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i + 1 < ?) SELECT i FROM g`
	if s.IsPostgres() {
		series = `SELECT i FROM generate_series(0, CAST(? AS BIGINT) - 1) AS g(i)`
	}
	insert := `INSERT INTO events(created_at, token_name, type, completion_id, choice_index, language, latency_ms)
		SELECT CAST(? AS BIGINT) - (i % 2160) * 3600000, 'user' || (i % 100) || '/laptop',
			CASE WHEN i % 3 = 0 THEN 'select' ELSE 'view' END, 'cmpl-' || (i / 2), 0,
			CASE i % 4 WHEN 0 THEN 'go' WHEN 1 THEN 'python' WHEN 2 THEN 'rust' ELSE 'java' END, 20 + i % 200
		FROM (` + series + `) AS s`
	if !bulk {
		if _, err := s.db.ExecContext(ctx, insert, now.UnixMilli(), n); err != nil {
			tb.Fatal(err)
		}
		return
	}
	if !s.IsPostgres() {
		tb.Fatal("storeBenchEvents: bulk loads are PostgreSQL's (ALTER TABLE ... DISABLE TRIGGER)")
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	for _, step := range []struct {
		sql  string
		args []any
	}{
		{`ALTER TABLE events DISABLE TRIGGER USER`, nil},
		{insert, []any{now.UnixMilli(), n}},
		{`ALTER TABLE events ENABLE TRIGGER USER`, nil},
		{`DELETE FROM usage_days; DELETE FROM usage_latency;`, nil},
		{summarizeEventsSQL(s.dialect), nil},
	} {
		if _, err := tx.ExecContext(ctx, step.sql, step.args...); err != nil {
			tb.Fatalf("%v\n%s", err, step.sql)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	// The planner's statistics, as autovacuum would gather them after such a load.
	if _, err := s.db.ExecContext(ctx, `ANALYZE events; ANALYZE usage_days; ANALYZE usage_latency`); err != nil {
		tb.Fatal(err)
	}
}
