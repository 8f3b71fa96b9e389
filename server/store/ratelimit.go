package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Per-token rate limits across replicas: every replica on one PostgreSQL
// takes each request from the same bucket, a row of serval_rate_limits, in
// one statement (GCRA: the row keeps the token's "theoretical arrival time";
// a request moves it one interval on, unless that would put it more than
// burst intervals ahead of now). The clock is the database's, so replicas'
// clocks need not agree. The table is UNLOGGED: a PostgreSQL crash empties
// it, which only refills the buckets. It is bookkeeping, not data: it is
// made at open (postgres.go), outside the numbered migrations, like
// serval_schema, and `store copy` skips it.
//
// A SQLite store is one process's (or a few on one machine): the in-process
// limiter of server/auth serves it.

const pgRateLimitTable = `CREATE UNLOGGED TABLE IF NOT EXISTS serval_rate_limits (
	token_name TEXT   PRIMARY KEY,
	tat_us     BIGINT NOT NULL
)`

// ErrNoSharedLimits is returned by TakeRequest on a SQLite store.
var ErrNoSharedLimits = errors.New("shared rate limits need a PostgreSQL store")

// TakeRequest takes one request from the token's shared budget of
// perMinute requests a minute with bursts of burst. When the budget is
// empty it takes nothing and returns how long until a request would fit.
func (s *Store) TakeRequest(ctx context.Context, token string, perMinute float64, burst int) (retryAfter time.Duration, ok bool, err error) {
	if s.dialect != postgresDialect {
		return 0, false, ErrNoSharedLimits
	}
	if perMinute <= 0 || burst < 1 {
		return 0, false, fmt.Errorf("rate limit %g/min, burst %d", perMinute, burst)
	}
	interval := int64(60e6 / perMinute) // µs between requests at the steady rate
	window := interval * int64(burst)
	var tat int64
	err = s.db.QueryRowContext(ctx, `WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS us)
		INSERT INTO serval_rate_limits AS r (token_name, tat_us) SELECT CAST(? AS TEXT), now.us + CAST(? AS BIGINT) FROM now
		ON CONFLICT (token_name) DO UPDATE SET tat_us = greatest(r.tat_us, (SELECT us FROM now)) + ?
		WHERE greatest(r.tat_us, (SELECT us FROM now)) + ? - (SELECT us FROM now) <= ?
		RETURNING tat_us`, token, interval, interval, interval, window).Scan(&tat)
	if err == nil {
		return 0, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, false, fmt.Errorf("rate limit: %w", err)
	}
	// Refused: the bucket is ahead of now by more than the window allows.
	var ahead int64
	if err := s.db.QueryRowContext(ctx, `SELECT tat_us - (extract(epoch FROM clock_timestamp()) * 1000000)::bigint
		FROM serval_rate_limits WHERE token_name = ?`, token).Scan(&ahead); err != nil {
		return 0, false, fmt.Errorf("rate limit: %w", err)
	}
	wait := time.Duration(ahead+interval-window) * time.Microsecond
	return max(wait, time.Millisecond), false, nil
}
