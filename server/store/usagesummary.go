package store

import (
	"fmt"
	"math/bits"
	"strings"
)

// The usage pages read summaries, not the events: reading 30 days of events
// and counting distinct completions on every request took seconds with
// 100,000 events. Triggers on events keep the summaries as each event is
// stored (in the same statement, so in the same transaction), and migration
// step 4 builds them from the events a data directory already holds.
//
// usage_days counts, per UTC day (created_at / 86400000), token and language
// (” counted as 'unknown'), the distinct (completion_id, choice_index) pairs
// with a view and with a select event: what the usage page has always shown.
// usage_latency counts the latencies of view events per day and latency
// bucket (see LatencyBucket), once for everyone (owner ”) and once for the
// name before the token's first '/' (owner = the account for "<user>/<name>"
// tokens): the two ways the usage page filters.
var usageSummaryMigration = `
CREATE TABLE usage_days (
	day        INTEGER NOT NULL,
	token_name TEXT    NOT NULL,
	language   TEXT    NOT NULL,
	shown      INTEGER NOT NULL,
	accepted   INTEGER NOT NULL,
	PRIMARY KEY (day, token_name, language)
) WITHOUT ROWID;
CREATE INDEX usage_days_token ON usage_days(token_name, day);
CREATE TABLE usage_latency (
	day    INTEGER NOT NULL,
	owner  TEXT    NOT NULL,
	bucket INTEGER NOT NULL,
	n      INTEGER NOT NULL,
	PRIMARY KEY (owner, day, bucket)
) WITHOUT ROWID;
-- The usage pages no longer read the events by time; the summaries need to
-- find a completion's earlier events.
DROP INDEX events_created;
DROP INDEX events_token_created;
CREATE INDEX events_completion ON events(completion_id, choice_index);

-- A completion choice counts once per day, token, language and type: only
-- the first such event adds to the counts.
CREATE TRIGGER events_count_usage AFTER INSERT ON events WHEN NEW.type IN ('view', 'select') BEGIN
	INSERT INTO usage_days(day, token_name, language, shown, accepted)
	SELECT NEW.created_at / 86400000, NEW.token_name, ` + usageLanguage("NEW.language") + `, NEW.type = 'view', NEW.type = 'select'
	WHERE NOT EXISTS (SELECT 1 FROM events e
		WHERE e.completion_id = NEW.completion_id AND e.choice_index = NEW.choice_index AND e.type = NEW.type
		AND e.token_name = NEW.token_name AND ` + usageLanguage("e.language") + ` = ` + usageLanguage("NEW.language") + `
		AND e.created_at / 86400000 = NEW.created_at / 86400000 AND e.id <> NEW.id)
	ON CONFLICT (day, token_name, language) DO UPDATE SET shown = shown + excluded.shown, accepted = accepted + excluded.accepted;
END;
CREATE TRIGGER events_count_latency AFTER INSERT ON events WHEN NEW.type = 'view' AND NEW.latency_ms IS NOT NULL BEGIN
	INSERT INTO usage_latency(day, owner, bucket, n)
	SELECT NEW.created_at / 86400000, '', ` + latencyBucketSQL(sqliteDialect, "NEW.latency_ms") + `, 1 WHERE true
	ON CONFLICT (owner, day, bucket) DO UPDATE SET n = n + 1;
	INSERT INTO usage_latency(day, owner, bucket, n)
	SELECT NEW.created_at / 86400000, ` + tokenOwnerSQL(sqliteDialect, "NEW.token_name") + `, ` + latencyBucketSQL(sqliteDialect, "NEW.latency_ms") + `, 1
	WHERE ` + sqliteDialect.slashAt("NEW.token_name") + ` > 1
	ON CONFLICT (owner, day, bucket) DO UPDATE SET n = n + 1;
END;

-- The events stored before this step.
` + summarizeStoredEvents(sqliteDialect)

// summarizeStoredEvents is the SQL that counts into the (empty) summaries of
// migration step 4 the events already stored, in one pass: what the
// triggers count event by event. summarizeEventsSQL adds step 5's column.
func summarizeStoredEvents(d dialect) string {
	return `INSERT INTO usage_days(day, token_name, language, shown, accepted)
	SELECT created_at / 86400000 AS d, token_name, ` + usageLanguage("language") + ` AS lang,
		count(DISTINCT CASE WHEN type = 'view'   THEN completion_id || '/' || choice_index END),
		count(DISTINCT CASE WHEN type = 'select' THEN completion_id || '/' || choice_index END)
	FROM events WHERE type IN ('view', 'select') GROUP BY d, token_name, lang;
INSERT INTO usage_latency(day, owner, bucket, n)
	SELECT created_at / 86400000 AS d, '', ` + latencyBucketSQL(d, "latency_ms") + ` AS b, count(*)
	FROM events WHERE type = 'view' AND latency_ms IS NOT NULL GROUP BY d, b;
INSERT INTO usage_latency(day, owner, bucket, n)
	SELECT created_at / 86400000 AS d, ` + tokenOwnerSQL(d, "token_name") + ` AS o, ` + latencyBucketSQL(d, "latency_ms") + ` AS b, count(*)
	FROM events WHERE type = 'view' AND latency_ms IS NOT NULL AND ` + d.slashAt("token_name") + ` > 1 GROUP BY d, o, b;
`
}

// summarizeEventsSQL builds the summaries of today's schema from the events
// stored, into empty summary tables, in one pass over the events: the same
// rows the triggers build event by event (TestBulkSummariesMatchTriggers
// compares them). Bulk loads, such as the benchmarks' million events, store
// the events with the triggers off and then run it: through the triggers,
// PostgreSQL took over 17 minutes for a million.
func summarizeEventsSQL(d dialect) string {
	return summarizeStoredEvents(d) + backfillAcceptedOther
}

// usageLanguage is the SQL of the language an event's language column is
// counted under.
func usageLanguage(col string) string {
	return "CASE WHEN " + col + " = '' THEN 'unknown' ELSE " + col + " END"
}

// tokenOwnerSQL is the SQL of the name before the first '/' of a token name.
func tokenOwnerSQL(d dialect, col string) string {
	return "substr(" + col + ", 1, " + d.slashAt(col) + " - 1)"
}

// slashAt is the SQL of the 1-based position of the first '/' in col (0: none).
func (d dialect) slashAt(col string) string {
	if d == postgresDialect {
		return "strpos(" + col + ", '/')"
	}
	return "instr(" + col + ", '/')"
}

// msPerDay turns created_at (Unix ms) into the summaries' day number.
const msPerDay = 86_400_000

// Latencies are counted in buckets: exact below 64 ms, then 32 buckets per
// doubling, so a bucket spans at most 1/32 (3 %) of its values. A day then
// has at most a few hundred buckets however many completions it saw.
const (
	exactLatencyBelow  = 64
	bucketsPerDoubling = 32
)

// LatencyBucket is the bucket of a latency of ms milliseconds (negative
// counts as 0). latencyBucketSQL computes the same in SQL.
func LatencyBucket(ms int64) int {
	if ms < exactLatencyBelow {
		return int(max(ms, 0))
	}
	e := bits.Len64(uint64(ms)) - 1 // 2^e <= ms < 2^(e+1), e >= 6
	return exactLatencyBelow + (e-6)*bucketsPerDoubling + int(ms>>(e-5)) - bucketsPerDoubling
}

// latencyBucketSQL is LatencyBucket of the integer column col, in SQL.
func latencyBucketSQL(d dialect, col string) string {
	var b strings.Builder
	maxOf := "max"
	if d == postgresDialect {
		maxOf = "greatest"
	}
	fmt.Fprintf(&b, "CASE WHEN %s < %d THEN %s(%s, 0)", col, exactLatencyBelow, maxOf, col)
	for e := 6; e < 62; e++ {
		fmt.Fprintf(&b, " WHEN %s < %d THEN %d + (%s >> %d)", col, int64(1)<<(e+1),
			exactLatencyBelow+(e-6)*bucketsPerDoubling-bucketsPerDoubling, col, e-5)
	}
	fmt.Fprintf(&b, " ELSE %d + (%s >> 57) END", exactLatencyBelow+(62-6)*bucketsPerDoubling-bucketsPerDoubling, col)
	return b.String()
}

// LatencyBounds are the smallest and largest latency (ms) in bucket.
func LatencyBounds(bucket int) (lo, hi int64) {
	if bucket < exactLatencyBelow {
		return int64(bucket), int64(bucket)
	}
	k := bucket - exactLatencyBelow
	e, sub := 6+k/bucketsPerDoubling, k%bucketsPerDoubling
	lo = int64(bucketsPerDoubling+sub) << (e - 5)
	return lo, lo + 1<<(e-5) - 1
}
