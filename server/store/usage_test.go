package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/pgtest"
)

// The usage summaries must give exactly what the usage page computed from
// the raw events before they existed. rawUsage and rawLatencies are those
// computations (the queries of schema version 2, with the accepted choices
// other than the first since version 5), kept here as the reference.

func rawUsage(t *testing.T, s *Store, owner string, since time.Time) []UsageRow {
	t.Helper()
	q := `SELECT created_at / 86400000 AS day, token_name,
			CASE WHEN language = '' THEN 'unknown' ELSE language END AS lang,
			count(DISTINCT CASE WHEN type = 'view'   THEN completion_id || '/' || choice_index END),
			count(DISTINCT CASE WHEN type = 'select' THEN completion_id || '/' || choice_index END),
			count(DISTINCT CASE WHEN type = 'select' AND choice_index > 0 THEN completion_id || '/' || choice_index END)
		FROM events WHERE created_at >= ? AND type IN ('view', 'select')`
	args := []any{since.UTC().Truncate(24 * time.Hour).UnixMilli()}
	if owner != "" {
		q += ` AND token_name >= ? AND token_name < ?`
		args = append(args, owner+"/", owner+"0")
	}
	rows, err := s.db.Query(q+` GROUP BY day, token_name, lang ORDER BY day, token_name, lang`, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []UsageRow
	for rows.Next() {
		var r UsageRow
		var day int64
		if err := rows.Scan(&day, &r.Token, &r.Language, &r.Shown, &r.Accepted, &r.AcceptedOther); err != nil {
			t.Fatal(err)
		}
		r.Day = time.Unix(day*86400, 0).UTC()
		if o, _, ok := strings.Cut(r.Token, "/"); ok && ValidateUsername(o) == nil {
			r.Owner = o
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// rawLatencies is the histogram of every latency the usage page's
// percentiles are taken from.
func rawLatencies(t *testing.T, s *Store, owner string, since time.Time) []LatencyCount {
	t.Helper()
	q := `SELECT latency_ms FROM events WHERE created_at >= ? AND type = 'view' AND latency_ms IS NOT NULL`
	args := []any{since.UTC().Truncate(24 * time.Hour).UnixMilli()}
	if owner != "" {
		q += ` AND token_name >= ? AND token_name < ?`
		args = append(args, owner+"/", owner+"0")
	}
	rows, err := s.db.Query(q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	counts := map[int]int64{}
	for rows.Next() {
		var ms int64
		if err := rows.Scan(&ms); err != nil {
			t.Fatal(err)
		}
		counts[LatencyBucket(ms)]++
	}
	var out []LatencyCount
	for b, n := range counts {
		out = append(out, LatencyCount{Bucket: b, Count: n})
	}
	slices.SortFunc(out, func(a, b LatencyCount) int { return a.Bucket - b.Bucket })
	return out
}

// randomEvents makes n events over 45 days before now with many repeats: the
// same completion choice viewed or accepted again (same or another day,
// token, language), languages ” and 'unknown' (counted as one), tokens of
// accounts, server tokens, and server tokens whose names look like an
// account's. Their order is random, so events for past days arrive after
// newer ones.
func randomEvents(rng *rand.Rand, now time.Time, n int) []Event {
	tokens := []string{"bob/laptop", "bob/desk", "alice/ci", "Bob/x", "bob0", "bob.x", "initial", "-x/y", "bo/b", "anonymous"}
	langs := []string{"go", "python", "", "unknown", "Go"}
	types := []string{"view", "view", "select", "dismiss"}
	events := make([]Event, n)
	for i := range events {
		e := Event{
			Time:         now.Add(-time.Duration(rng.Int64N(int64(45 * 24 * time.Hour)))),
			TokenName:    tokens[rng.IntN(len(tokens))],
			Type:         types[rng.IntN(len(types))],
			CompletionID: fmt.Sprintf("cmpl-%d", rng.IntN(n/4+1)),
			ChoiceIndex:  rng.IntN(2),
			Language:     langs[rng.IntN(len(langs))],
		}
		if rng.IntN(4) == 0 {
			// The same choice again, on the same day or a later one.
			j := rng.IntN(i + 1)
			if j < i {
				e.CompletionID, e.ChoiceIndex, e.TokenName, e.Language = events[j].CompletionID, events[j].ChoiceIndex, events[j].TokenName, events[j].Language
				e.Time = events[j].Time.Add(time.Duration(rng.IntN(3)) * 12 * time.Hour)
				if swap, ok := map[string]string{"": "unknown", "unknown": ""}[e.Language]; ok && rng.IntN(2) == 0 {
					e.Language = swap // '' and 'unknown' are one language
				}
			}
		}
		if e.Type == "view" && rng.IntN(5) != 0 {
			lat := time.Duration(rng.Int64N(5000)) * time.Millisecond
			if rng.IntN(10) == 0 {
				lat = time.Duration(rng.Int64N(int64(20 * time.Minute)))
			}
			e.Latency = &lat
		}
		events[i] = e
	}
	return events
}

// sumRows adds up Usage's rows per day, language and token.
func sumRows(rows []UsageRow) UsageTotals {
	var t UsageTotals
	add := func(list []UsageRow, same func(UsageRow) bool, key UsageRow, r UsageRow) []UsageRow {
		for i := range list {
			if same(list[i]) {
				list[i].Shown += r.Shown
				list[i].Accepted += r.Accepted
				list[i].AcceptedOther += r.AcceptedOther
				return list
			}
		}
		key.Shown, key.Accepted, key.AcceptedOther = r.Shown, r.Accepted, r.AcceptedOther
		return append(list, key)
	}
	for _, r := range rows {
		t.Days = add(t.Days, func(x UsageRow) bool { return x.Day.Equal(r.Day) }, UsageRow{Day: r.Day}, r)
		t.Languages = add(t.Languages, func(x UsageRow) bool { return x.Language == r.Language }, UsageRow{Language: r.Language}, r)
		t.Tokens = add(t.Tokens, func(x UsageRow) bool { return x.Token == r.Token }, UsageRow{Token: r.Token, Owner: r.Owner}, r)
	}
	slices.SortFunc(t.Days, func(a, b UsageRow) int { return a.Day.Compare(b.Day) })
	slices.SortFunc(t.Languages, func(a, b UsageRow) int { return strings.Compare(a.Language, b.Language) })
	slices.SortFunc(t.Tokens, func(a, b UsageRow) int { return strings.Compare(a.Token, b.Token) })
	return t
}

// checkSummariesMatchEvents compares the summaries with the raw computation
// for every owner filter and several windows.
func checkSummariesMatchEvents(t *testing.T, s *Store, now time.Time) {
	t.Helper()
	ctx := context.Background()
	for _, owner := range []string{"", "bob", "alice", "Bob", "nobody"} {
		for _, days := range []int{1, 30, 20000} {
			since := now.AddDate(0, 0, -(days - 1))
			got, err := s.Usage(ctx, owner, since)
			if err != nil {
				t.Fatal(err)
			}
			if want := rawUsage(t, s, owner, since); !reflect.DeepEqual(got, want) {
				t.Fatalf("owner %q, %d days: usage from the summary differs from the events:\n got %+v\nwant %+v", owner, days, got, want)
			}
			totals, err := s.Totals(ctx, owner, since)
			if err != nil {
				t.Fatal(err)
			}
			if want := sumRows(got); !reflect.DeepEqual(totals, want) {
				t.Fatalf("owner %q, %d days: totals differ from the rows' sums:\n got %+v\nwant %+v", owner, days, totals, want)
			}
			lat, err := s.Latencies(ctx, owner, since)
			if err != nil {
				t.Fatal(err)
			}
			if want := rawLatencies(t, s, owner, since); !reflect.DeepEqual(lat, want) {
				t.Fatalf("owner %q, %d days: latencies from the summary differ from the events:\n got %+v\nwant %+v", owner, days, lat, want)
			}
		}
	}
}

func TestUsageSummaryMatchesEvents(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			forEachDialect(t, func(t *testing.T, s *Store) { checkRandomEvents(t, s, seed) })
		})
	}
}

// checkRandomEvents stores a random set of events and compares the
// summaries with the events.
func checkRandomEvents(t *testing.T, s *Store, seed uint64) {
	now := time.Date(2026, 12, 3, 13, 30, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return now })
	rng := rand.New(rand.NewPCG(seed, 12))
	for _, e := range randomEvents(rng, now, 600) {
		if err := s.AddEvent(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	// An event without a time is stored at the store's now.
	if err := s.AddEvent(context.Background(), Event{TokenName: "bob/laptop", Type: "view", CompletionID: "now"}); err != nil {
		t.Fatal(err)
	}
	checkSummariesMatchEvents(t, s, now)
}

// TestUsageSummaryExactUnderConcurrentWriters: replicas store the events of
// one completion side by side (two stores on one database, four writers
// each); every choice still counts once.
func TestUsageSummaryExactUnderConcurrentWriters(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		s, _ := openTemp(t)
		concurrentWriters(t, s, s)
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.Shared(t).NewDatabase(t)
		var replicas [2]*Store
		for i := range replicas {
			s, err := OpenPostgres(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			replicas[i] = s
		}
		concurrentWriters(t, replicas[0], replicas[1])
	})
}

func concurrentWriters(t *testing.T, first, second *Store) {
	{
		now := time.Date(2026, 12, 3, 13, 30, 0, 0, time.UTC)
		rng := rand.New(rand.NewPCG(42, 42))
		events := randomEvents(rng, now, 800)
		// Every event twice, so that the same choice arrives on both at once.
		events = append(events, events...)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			s := []*Store{first, second}[w%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < len(events); i += 8 {
					if err := s.AddEvent(context.Background(), events[i]); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		checkSummariesMatchEvents(t, first, now)
	}
}

// TestUsageMigrationBackfillsSummaries: events stored before the summaries'
// schema step are counted by that step exactly as the raw
// computation counts them, and events added afterwards keep them exact.
func TestUsageMigrationBackfillsSummaries(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	// The steps before the summaries.
	before := slices.IndexFunc(migrations, func(m migration) bool { return m.sql == usageSummaryMigration })
	v2, err := openFile(ctx, path, migrations[:before])
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 0, 0, 1, 0, time.UTC)
	rng := rand.New(rand.NewPCG(7, 7))
	events := randomEvents(rng, now, 1000)
	for _, e := range events[:800] {
		var latency any
		if e.Latency != nil {
			latency = e.Latency.Milliseconds()
		}
		// AddEvent before the summaries: a plain insert.
		if _, err := v2.db.Exec(`INSERT INTO events(created_at, token_name, type, completion_id, choice_index, language, latency_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, e.Time.UnixMilli(), e.TokenName, e.Type, e.CompletionID, e.ChoiceIndex, e.Language, latency); err != nil {
			t.Fatal(err)
		}
	}
	v2.Close()
	s, err := OpenFile(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if m := s.Migrated(); m.From != before || m.To != SchemaVersion {
		t.Fatalf("migrated %+v, want from %d", m, before)
	}
	checkSummariesMatchEvents(t, s, now)
	for _, e := range events[800:] {
		if err := s.AddEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	checkSummariesMatchEvents(t, s, now)
}

// TestBulkSummariesMatchTriggers: summarizeEventsSQL, run on the events
// stored, builds exactly the summaries the triggers built event by event
// (random events with repeats, and the benchmark's generated ones); and the
// benchmark's bulk load on PostgreSQL (triggers off, then
// summarizeEventsSQL) gives the rows loading through the triggers gives,
// with the triggers on again after it.
func TestBulkSummariesMatchTriggers(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 13, 30, 0, 0, time.UTC)
	random := randomEvents(rand.New(rand.NewPCG(11, 11)), now, 600)
	addAll := func(t *testing.T, s *Store) {
		for _, e := range random {
			if err := s.AddEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	forEachDialect(t, func(t *testing.T, s *Store) {
		addAll(t, s)
		storeBenchEvents(t, s, now, 3000, false)
		byTriggers := summaryRows(t, s)
		if _, err := s.db.ExecContext(ctx, `DELETE FROM usage_days; DELETE FROM usage_latency;`+summarizeEventsSQL(s.dialect)); err != nil {
			t.Fatal(err)
		}
		if inBulk := summaryRows(t, s); !reflect.DeepEqual(inBulk, byTriggers) {
			t.Fatalf("summaries built in bulk differ from the triggers':\n bulk %v\n triggers %v", inBulk, byTriggers)
		}
	})
	t.Run("postgres bulk load", func(t *testing.T) {
		triggers, bulk := openPostgresTemp(t), openPostgresTemp(t)
		storeBenchEvents(t, triggers, now, 3000, false)
		storeBenchEvents(t, bulk, now, 3000, true)
		if a, b := summaryRows(t, bulk), summaryRows(t, triggers); !reflect.DeepEqual(a, b) {
			t.Fatalf("bulk load's summaries differ from the triggers':\n bulk %v\n triggers %v", a, b)
		}
		addAll(t, triggers)
		addAll(t, bulk)
		if a, b := summaryRows(t, bulk), summaryRows(t, triggers); !reflect.DeepEqual(a, b) {
			t.Fatal("after a bulk load the triggers do not count new events")
		}
		checkSummariesMatchEvents(t, bulk, now)
	})
}

// summaryRows is every row of the summary tables, in order.
func summaryRows(t *testing.T, s *Store) []string {
	t.Helper()
	var rows []string
	for _, q := range []string{
		`SELECT day, token_name, language, shown, accepted, accepted_other FROM usage_days ORDER BY day, token_name, language`,
		`SELECT day, owner, bucket, n, 0, 0 FROM usage_latency ORDER BY owner, day, bucket`,
	} {
		r, err := s.db.QueryContext(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var day, a, b, c int64
			var k1, k2 string
			if err := r.Scan(&day, &k1, &k2, &a, &b, &c); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, fmt.Sprintf("%d %q %q %d %d %d", day, k1, k2, a, b, c))
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	if len(rows) == 0 {
		t.Fatal("no summary rows")
	}
	return rows
}

// TestFixtureUsage: the first release's data directory, migrated, shows its
// events' usage.
func TestFixtureUsage(t *testing.T) {
	s, err := Open(context.Background(), copyFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	checkSummariesMatchEvents(t, s, now)
	rows, err := s.Usage(context.Background(), "", now.AddDate(0, 0, -29))
	if err != nil || len(rows) != 3 {
		t.Fatalf("usage = %+v, %v; want go, python and unknown", rows, err)
	}
}

func TestLatencyBuckets(t *testing.T) {
	prev := -1
	for ms := int64(-3); ms < 1<<22; ms++ {
		b := LatencyBucket(ms)
		lo, hi := LatencyBounds(b)
		if v := max(ms, 0); v < lo || v > hi {
			t.Fatalf("%d ms in bucket %d [%d, %d]", ms, b, lo, hi)
		}
		if b != prev && b != prev+1 {
			t.Fatalf("%d ms: bucket %d after %d (buckets must be consecutive)", ms, b, prev)
		}
		if ms >= exactLatencyBelow && float64(hi-lo+1) > float64(lo)/bucketsPerDoubling {
			t.Fatalf("bucket %d [%d, %d] wider than 1/%d of its values", b, lo, hi, bucketsPerDoubling)
		}
		prev = b
	}
	if lo, hi := LatencyBounds(LatencyBucket(1 << 62)); lo > 1<<62 || hi < 1<<62 {
		t.Fatalf("2^62 ms in [%d, %d]", lo, hi)
	}
}

// TestLatencyBucketSQL: the triggers' SQL bucket is LatencyBucket.
func TestLatencyBucketSQL(t *testing.T) {
	s, _ := openTemp(t)
	values := []int64{-5, 0, 1, 63, 64, 65, 127, 128, 129, 1000, 4095, 4096, 1<<40 + 12345, 1<<62 + 1, 1<<63 - 1}
	for e := range 63 {
		values = append(values, int64(1)<<e-1, int64(1)<<e, int64(1)<<e+1, int64(1)<<e+int64(1)<<e/3)
	}
	for _, ms := range values {
		var got int
		if err := s.db.QueryRow(`SELECT `+latencyBucketSQL(sqliteDialect, "?1"), ms).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if want := LatencyBucket(ms); got != want {
			t.Errorf("%d ms: SQL bucket %d, Go bucket %d", ms, got, want)
		}
	}
}
