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
}

// Usage returns the per-day, per-token, per-language counts of the events
// since since (rounded down to its UTC day), ordered by day. owner "" means
// every account and server token; otherwise only that account's tokens.
func (s *Store) Usage(ctx context.Context, owner string, since time.Time) ([]UsageRow, error) {
	start := since.UTC().Truncate(24 * time.Hour)
	q := `SELECT created_at / 86400000 AS day, token_name,
			CASE WHEN language = '' THEN 'unknown' ELSE language END AS lang,
			count(DISTINCT CASE WHEN type = 'view'   THEN completion_id || '/' || choice_index END),
			count(DISTINCT CASE WHEN type = 'select' THEN completion_id || '/' || choice_index END)
		FROM events WHERE created_at >= ? AND type IN ('view', 'select')`
	args := []any{start.UnixMilli()}
	if owner != "" {
		// Owned tokens are "<owner>/<name>"; '0' sorts right after '/', so
		// this is an index range over the owner's tokens.
		q += ` AND token_name >= ? AND token_name < ?`
		args = append(args, owner+"/", owner+"0")
	}
	q += ` GROUP BY day, token_name, lang ORDER BY day, token_name, lang`
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read usage: %w", err)
	}
	defer rows.Close()
	var out []UsageRow
	for rows.Next() {
		var r UsageRow
		var day int64
		if err := rows.Scan(&day, &r.Token, &r.Language, &r.Shown, &r.Accepted); err != nil {
			return nil, fmt.Errorf("read usage: %w", err)
		}
		r.Day = time.Unix(day*86400, 0).UTC()
		if o, _, ok := strings.Cut(r.Token, "/"); ok && ValidateUsername(o) == nil {
			r.Owner = o
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Latencies returns the server-side latencies (ms) of the completions shown
// since since (view events that carry one), for owner as in Usage, in
// ascending order: the newest limit of them.
func (s *Store) Latencies(ctx context.Context, owner string, since time.Time, limit int) ([]int64, error) {
	q := `SELECT latency_ms, created_at FROM events WHERE created_at >= ? AND type = 'view' AND latency_ms IS NOT NULL`
	args := []any{since.UnixMilli()}
	if owner != "" {
		q += ` AND token_name >= ? AND token_name < ?`
		args = append(args, owner+"/", owner+"0")
	}
	q = `SELECT latency_ms FROM (` + q + ` ORDER BY created_at DESC LIMIT ?) ORDER BY latency_ms`
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read latencies: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read latencies: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
