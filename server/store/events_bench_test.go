package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkAddEvent measures the write path of /v1/events: one op stores a
// view and then a select of a new completion, into a database that already
// holds 100,000 events of 100 accounts over 30 days, and reports the p50/p99
// of the single writes:
//
//	go test -run '^$' -bench AddEvent -benchtime 2000x ./server/store/
func BenchmarkAddEvent(b *testing.B) {
	s, _ := openTemp(b)
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
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(times[(len(times)*99)/100].Microseconds())/1000, "p99-ms")
}
