package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL is the shared store of serval replicas: any number of `serval
// serve` processes on one database are one instance. The schema is the same
// as SQLite's, step for step (migrations.go); the schema version is the one
// row of serval_schema, and migrations run under an advisory lock, so one
// replica migrates while the others wait and then find the work done.

// IsPostgresURL reports whether database names a PostgreSQL server rather
// than a SQLite file.
func IsPostgresURL(database string) bool {
	return strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://")
}

// OpenDatabase opens the store a command was pointed at: database is a
// postgres:// URL or a SQLite file path; "" means the SQLite database in
// dataDir, as without --database.
func OpenDatabase(ctx context.Context, database, dataDir string) (*Store, error) {
	switch {
	case database == "":
		return Open(ctx, dataDir)
	case IsPostgresURL(database):
		return OpenPostgres(ctx, database)
	case strings.Contains(database, "://"):
		return nil, fmt.Errorf("store: --database %s: not a postgres:// URL or a SQLite file path; "+
			"write postgres://USER:PASSWORD@HOST:5432/DATABASE, or the path of a SQLite file", RedactURL(database))
	default:
		return OpenFile(ctx, database)
	}
}

// pgMaxConns bounds one replica's connections: PostgreSQL's default
// max_connections (100) then serves several replicas and the CLI.
const pgMaxConns = 16

// pgConnectTimeout bounds a connection attempt to an unreachable server.
const pgConnectTimeout = 5 * time.Second

// OpenPostgres connects to the PostgreSQL database at url and migrates it.
func OpenPostgres(ctx context.Context, url string) (*Store, error) {
	return openPostgres(ctx, url, migrations)
}

func openPostgres(ctx context.Context, url string, steps []migration) (*Store, error) {
	db, err := connectPostgres(ctx, url)
	if err != nil {
		return nil, err
	}
	m, err := migratePostgres(ctx, db, steps)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", RedactURL(url), err)
	}
	insertEvent, err := db.PrepareContext(ctx, insertEventSQL)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", RedactURL(url), explainPostgres(err))
	}
	lookupToken, err := db.PrepareContext(ctx, lookupTokenSQL)
	if err != nil {
		insertEvent.Close()
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", RedactURL(url), explainPostgres(err))
	}
	return &Store{db: db, dialect: postgresDialect, now: time.Now, migration: m, insertEvent: insertEvent, lookupToken: lookupToken}, nil
}

// connectPostgres opens a pool on url and checks that the server answers,
// with an error that names what to fix.
func connectPostgres(ctx context.Context, url string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: --database is not a valid PostgreSQL URL (%s): %v; "+
			"write postgres://USER:PASSWORD@HOST:5432/DATABASE", RedactURL(url), redactIn(err.Error(), url))
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > pgConnectTimeout {
		cfg.ConnectTimeout = pgConnectTimeout
	}
	db := sql.OpenDB(pgConnector{stdlib.GetConnector(*cfg)})
	db.SetMaxOpenConns(pgMaxConns)
	db.SetMaxIdleConns(pgMaxConns)
	// A server restart closes every connection; fresh ones replace them.
	db.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 2*pgConnectTimeout)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: cannot use PostgreSQL at %s: %w", RedactURL(url), explainPostgres(err))
	}
	return db, nil
}

// ErrUnavailable wraps the errors of a PostgreSQL server that cannot be
// reached (down, restarting, network): the HTTP layer answers 503 for them.
var ErrUnavailable = errors.New("the database is unavailable")

// explainPostgres adds to a PostgreSQL error what to fix, and marks
// connection failures with ErrUnavailable.
func explainPostgres(err error) error {
	if err = unavailable(err); errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("%w (is PostgreSQL running and reachable at that host and port?)", err)
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "28P01", "28000":
			return fmt.Errorf("%w (check the user and password in --database / SERVAL_DATABASE_URL)", err)
		case "3D000":
			return fmt.Errorf("%w (create it first: createdb, or CREATE DATABASE ... OWNER ...)", err)
		case "42501":
			return fmt.Errorf("%w (the user needs to own the database, or CREATE on its schema)", err)
		}
	}
	return err
}

// isConnectionError reports whether err is a failure to reach the server
// (rather than an answer from it).
func isConnectionError(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, net.ErrClosed) ||
		pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed") ||
		strings.Contains(err.Error(), "unexpected EOF")
}

// RedactURL is url without its password, for messages and logs.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(a database URL that cannot be parsed)"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// redactIn removes url's password from msg.
func redactIn(msg, raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if p, has := u.User.Password(); has && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}

// pgDatabaseName names a PostgreSQL store in messages (never its URL).
const pgDatabaseName = "the PostgreSQL database"

// migrationLockKey is the advisory lock migrations hold (any constant: the
// two-key locks of usage counting live in another key space).
const migrationLockKey = 0x5e7a1_5c4e3a

// migratePostgres brings the database to the last of steps, in one
// transaction under the migration lock.
func migratePostgres(ctx context.Context, db *sql.DB, steps []migration) (Migration, error) {
	latest := len(steps)
	// A newer schema is refused before taking any lock.
	if v, ok, err := pgSchemaVersion(ctx, db); err != nil {
		return Migration{}, explainPostgres(err)
	} else if ok && v > latest {
		return Migration{}, &NewerSchemaError{Path: pgDatabaseName, Version: v, KnownToThis: latest}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return Migration{}, explainPostgres(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, int64(migrationLockKey)); err != nil {
		return Migration{}, explainPostgres(err)
	}
	current, ok, err := pgSchemaVersion(ctx, tx)
	if err != nil {
		return Migration{}, explainPostgres(err)
	}
	if !ok {
		if err := refuseForeignTables(ctx, tx); err != nil {
			return Migration{}, err
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE serval_schema (version INTEGER NOT NULL);
			INSERT INTO serval_schema(version) VALUES (0)`); err != nil {
			return Migration{}, explainPostgres(err)
		}
	}
	if current > latest {
		return Migration{}, &NewerSchemaError{Path: pgDatabaseName, Version: current, KnownToThis: latest}
	}
	for _, table := range []string{pgRateLimitTable, pgAttemptTable} {
		if _, err := tx.ExecContext(ctx, table); err != nil {
			return Migration{}, explainPostgres(err)
		}
	}
	result := Migration{From: current, To: current}
	if current == latest {
		return result, tx.Commit()
	}
	for _, step := range steps[current:] {
		if err := step.runPostgres(ctx, tx); err != nil {
			return result, fmt.Errorf("migration %d (%s): %w; the database was left at schema %d", step.version, step.name, explainPostgres(err), result.From)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE serval_schema SET version = ?`, latest); err != nil {
		return result, fmt.Errorf("set schema version: %w", explainPostgres(err))
	}
	if err := tx.Commit(); err != nil {
		return result, fmt.Errorf("commit migration: %w", explainPostgres(err))
	}
	result.To = latest
	return result, nil
}

func (m migration) runPostgres(ctx context.Context, tx *sql.Tx) error {
	if m.postgres == "" && m.sql != "" {
		return fmt.Errorf("no PostgreSQL SQL for this step (a bug: every step needs both)")
	}
	if m.postgres != "" {
		if _, err := tx.ExecContext(ctx, m.postgres); err != nil {
			return err
		}
	}
	if m.apply != nil {
		return m.apply(ctx, tx)
	}
	return nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// pgSchemaVersion reads serval_schema; ok is false when the table is missing.
func pgSchemaVersion(ctx context.Context, db queryer) (v int, ok bool, err error) {
	var exists bool
	// A query of the catalog, not to_regclass: it reads a fresh snapshot, so
	// it sees the table that a replica which held the migration lock before
	// us has just committed.
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_name = 'serval_schema')`).Scan(&exists); err != nil {
		return 0, false, err
	}
	if !exists {
		return 0, false, nil
	}
	err = db.QueryRowContext(ctx, `SELECT version FROM serval_schema`).Scan(&v)
	return v, err == nil, err
}

// refuseForeignTables refuses a database without serval_schema that holds
// tables: it belongs to another application, and serval must not mix its
// tables in (nor take ones with the same names for its own).
func refuseForeignTables(ctx context.Context, db queryer) error {
	rows, err := db.QueryContext(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() ORDER BY table_name LIMIT 6`)
	if err != nil {
		return explainPostgres(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return err
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(names) == 0 {
		return nil
	}
	if len(names) > 5 {
		names = append(names[:5], "...")
	}
	return fmt.Errorf("the database holds tables serval did not create (%s): it belongs to another application. "+
		"Give serval a database of its own (CREATE DATABASE serval OWNER <user>) and point --database at it; nothing was changed",
		strings.Join(names, ", "))
}
