package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Sign-in attempt budgets across replicas: the web app charges a failed
// sign-in or a wrong device code to the account's and the client address's
// budgets before checking it (server/web/throttle.go). On PostgreSQL the
// budgets are rows of serval_attempts, shared by every replica, so N
// replicas behind a balancer that is not sticky give a guesser one budget,
// not N. Each row holds a budget's "theoretical arrival time" (GCRA, as
// serval_rate_limits): a charge moves it one interval on, unless that would
// put it more than burst intervals ahead of the database's clock. A row
// whose time has passed is a full budget, so such rows are deleted now and
// then: unknown names and addresses take no lasting room. UNLOGGED, made at
// open outside the numbered migrations, skipped by `store copy`.

const pgAttemptTable = `CREATE UNLOGGED TABLE IF NOT EXISTS serval_attempts (
	key    TEXT   PRIMARY KEY,
	tat_us BIGINT NOT NULL
)`

// Budget is one sign-in attempt budget: Burst attempts at once, then one
// every Every.
type Budget struct {
	Key   string
	Every time.Duration
	Burst int
}

// pruneEvery is how many charges, about, between deletions of full budgets.
const pruneEvery = 256

// ChargeAttempt takes one attempt from every budget, or, when any of them
// is empty, from none, and then returns how long until all of them have
// one (> 0). Only a PostgreSQL store shares budgets (ErrNoSharedLimits).
func (s *Store) ChargeAttempt(ctx context.Context, budgets ...Budget) (wait time.Duration, err error) {
	if s.dialect != postgresDialect {
		return 0, ErrNoSharedLimits
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var now int64
		if err := tx.QueryRowContext(ctx, `SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint`).Scan(&now); err != nil {
			return err
		}
		tats := make([]int64, len(budgets))
		for i, b := range budgets {
			// The row, made full (its time passed) when missing, locked to the
			// transaction's end; replicas charging the same budgets wait here.
			if err := tx.QueryRowContext(ctx, `INSERT INTO serval_attempts AS a (key, tat_us) VALUES (?, 0)
				ON CONFLICT (key) DO UPDATE SET tat_us = a.tat_us RETURNING tat_us`, b.Key).Scan(&tats[i]); err != nil {
				return err
			}
		}
		for i, b := range budgets {
			every := b.Every.Microseconds()
			if next := max(tats[i], now) + every; next-now > every*int64(b.Burst) {
				wait = max(wait, time.Duration(next-now-every*int64(b.Burst))*time.Microsecond)
			}
		}
		if wait > 0 {
			return nil // charge nothing
		}
		for i, b := range budgets {
			if _, err := tx.ExecContext(ctx, `UPDATE serval_attempts SET tat_us = ? WHERE key = ?`,
				max(tats[i], now)+b.Every.Microseconds(), b.Key); err != nil {
				return err
			}
		}
		if now%pruneEvery == 0 {
			_, err := tx.ExecContext(ctx, `DELETE FROM serval_attempts WHERE tat_us < ?`, now)
			return err
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sign-in budget: %w", err)
	}
	return wait, nil
}

// RefundAttempt gives one attempt back to b (one that was charged and
// turned out not to be a guess); forget gives b all of its attempts back.
func (s *Store) RefundAttempt(ctx context.Context, b Budget, forget bool) error {
	if s.dialect != postgresDialect {
		return ErrNoSharedLimits
	}
	var err error
	if forget {
		_, err = s.db.ExecContext(ctx, `DELETE FROM serval_attempts WHERE key = ?`, b.Key)
	} else {
		_, err = s.db.ExecContext(ctx, `UPDATE serval_attempts SET tat_us = tat_us - ? WHERE key = ?`, b.Every.Microseconds(), b.Key)
	}
	if err != nil {
		return fmt.Errorf("sign-in budget: %w", err)
	}
	return nil
}
