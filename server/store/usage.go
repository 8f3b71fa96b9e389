package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// UsageRow counts the completions shown and accepted on one UTC day through
// one token in one language.
type UsageRow struct {
	Day      time.Time // UTC midnight
	Token    string    // stored token name ("alice/laptop", or a server token's name)
	Owner    string    // the account the token belongs to; "" for server tokens
	Language string    // "unknown" when the client did not say
	Shown    int       // distinct completion choices with a view event
	Accepted int       // distinct completion choices with a select event
	// AcceptedOther counts the accepted choices that were not the first
	// candidate (the user cycled to them).
	AcceptedOther int
}

// Usage returns the per-day, per-token, per-language counts since since
// (rounded down to its UTC day), ordered by day, token and language. owner ""
// means every account and server token; otherwise only that account's tokens.
// It reads the usage_days summary (see usagesummary.go).
func (s *Store) Usage(ctx context.Context, owner string, since time.Time) ([]UsageRow, error) {
	where, args := usageWhere(owner, since)
	rows, err := s.db.QueryContext(ctx, `SELECT day, token_name, language, shown, accepted, accepted_other FROM usage_days WHERE `+where+
		` ORDER BY day, token_name, language`, args...)
	if err != nil {
		return nil, fmt.Errorf("read usage: %w", err)
	}
	defer rows.Close()
	var out []UsageRow
	for rows.Next() {
		var r UsageRow
		var day int64
		if err := rows.Scan(&day, &r.Token, &r.Language, &r.Shown, &r.Accepted, &r.AcceptedOther); err != nil {
			return nil, fmt.Errorf("read usage: %w", err)
		}
		r.Day, r.Owner = time.Unix(day*86400, 0).UTC(), tokenOwner(r.Token)
		out = append(out, r)
	}
	return out, rows.Err()
}

// usageWhere selects usage_days rows from since's day on, of owner's tokens
// when owner is set.
func usageWhere(owner string, since time.Time) (string, []any) {
	if owner == "" {
		return `day >= ?`, []any{firstDay(since)}
	}
	// Owned tokens are "<owner>/<name>"; '0' sorts right after '/', so this
	// is an index range over the owner's tokens.
	return `day >= ? AND token_name >= ? AND token_name < ?`, []any{firstDay(since), owner + "/", owner + "0"}
}

// UsageTotals are the usage page's sums: the counts of Usage's rows added up
// per day, per language and per token.
type UsageTotals struct {
	Days      []UsageRow // Day set, ascending
	Languages []UsageRow // Language set
	Tokens    []UsageRow // Token and Owner set
}

// Totals returns Usage's counts (same owner and since) summed per day, per
// language and per token, without reading every row into Go.
func (s *Store) Totals(ctx context.Context, owner string, since time.Time) (UsageTotals, error) {
	var t UsageTotals
	var err error
	if t.Days, err = s.usageSums(ctx, "day", owner, since); err != nil {
		return t, err
	}
	if t.Languages, err = s.usageSums(ctx, "language", owner, since); err != nil {
		return t, err
	}
	t.Tokens, err = s.usageSums(ctx, "token_name", owner, since)
	return t, err
}

// usageSums sums usage_days' counts grouped by the column by.
func (s *Store) usageSums(ctx context.Context, by, owner string, since time.Time) ([]UsageRow, error) {
	where, args := usageWhere(owner, since)
	rows, err := s.db.QueryContext(ctx, `SELECT `+by+`, sum(shown), sum(accepted), sum(accepted_other) FROM usage_days WHERE `+where+
		` GROUP BY `+by+` ORDER BY `+by, args...)
	if err != nil {
		return nil, fmt.Errorf("read usage: %w", err)
	}
	defer rows.Close()
	var out []UsageRow
	for rows.Next() {
		var r UsageRow
		var key any
		if err := rows.Scan(&key, &r.Shown, &r.Accepted, &r.AcceptedOther); err != nil {
			return nil, fmt.Errorf("read usage: %w", err)
		}
		switch by {
		case "day":
			r.Day = time.Unix(key.(int64)*86400, 0).UTC()
		case "language":
			r.Language = key.(string)
		default:
			r.Token, r.Owner = key.(string), tokenOwner(key.(string))
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// tokenOwner is the account a stored token name belongs to ("" for server
// tokens).
func tokenOwner(token string) string {
	if o, _, ok := strings.Cut(token, "/"); ok && ValidateUsername(o) == nil {
		return o
	}
	return ""
}

// firstDay is the summaries' day number of since's UTC day.
func firstDay(since time.Time) int64 {
	return since.UTC().Truncate(24*time.Hour).UnixMilli() / msPerDay
}

// LatencyCount is how many shown completions took a latency in Bucket (see
// LatencyBucket).
type LatencyCount struct {
	Bucket int
	Count  int64
}

// Latencies returns the histogram of the server-side latencies of the
// completions shown since since (rounded down to its UTC day; view events
// that carry a latency), for owner as in Usage, in ascending bucket order.
func (s *Store) Latencies(ctx context.Context, owner string, since time.Time) ([]LatencyCount, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT bucket, sum(n) FROM usage_latency WHERE owner = ? AND day >= ?
		GROUP BY bucket ORDER BY bucket`, owner, firstDay(since))
	if err != nil {
		return nil, fmt.Errorf("read latencies: %w", err)
	}
	defer rows.Close()
	var out []LatencyCount
	for rows.Next() {
		var c LatencyCount
		if err := rows.Scan(&c.Bucket, &c.Count); err != nil {
			return nil, fmt.Errorf("read latencies: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
