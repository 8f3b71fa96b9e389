package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// The store speaks two SQL dialects with one set of queries: SQLite's (the
// embedded default) and PostgreSQL's (the shared store of replicas). Queries
// are written once, with '?' placeholders and INTEGER flags; the PostgreSQL
// connections (pgConnector below) turn '?' into $1, $2, ... and Go bools
// into 0/1, so every *sql.DB, *sql.Tx and *sql.Stmt call in this package
// works unchanged on either. What differs beyond that lives in the dialect's
// methods (schema version, locks, error codes) and in each migration's
// per-dialect SQL (migrations.go).

// dialect is the SQL flavour of an open store.
type dialect int

const (
	sqliteDialect dialect = iota
	postgresDialect
)

func (d dialect) String() string {
	if d == postgresDialect {
		return "postgres"
	}
	return "sqlite"
}

// lockTableSQL takes the write lock a transaction holds while it counts
// rows of table before inserting one (CreateFirstAdmin counts the users,
// CreateDeviceAuth the live device codes), so that two racing (in two
// processes, or on two replicas) cannot both count the same rows. table is
// a constant of this package, never input.
func (d dialect) lockTableSQL(table string) string {
	if d == postgresDialect {
		// SHARE ROW EXCLUSIVE conflicts with itself and with every write.
		return `LOCK TABLE ` + table + ` IN SHARE ROW EXCLUSIVE MODE`
	}
	// A write first takes SQLite's database write lock.
	return `UPDATE ` + table + ` SET id = id WHERE 0`
}

// isUnique reports whether err is a unique-constraint violation, in either dialect.
func isUnique(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// rebind rewrites the '?' placeholders of query as PostgreSQL's $1, $2, ...,
// leaving quoted strings, quoted identifiers and comments alone.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			end := strings.IndexByte(query[i+1:], c)
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+2])
			i += end + 1
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end])
			i += end - 1
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// pgConnector opens pgx's database/sql connections wrapped in pgConn.
type pgConnector struct{ driver.Connector }

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	return &pgConn{conn.(*stdlib.Conn)}, nil
}

// unavailable marks the errors of a server that cannot be reached, or that
// is shutting down or starting, with ErrUnavailable (the HTTP layers answer
// 503 for them). driver.ErrBadConn stays detectable through the wrapping, so
// database/sql still retries on a fresh connection.
func unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "57P01", "57P02", "57P03", "08000", "08003", "08006":
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if isConnectionError(err) || errors.Is(err, driver.ErrBadConn) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// pgConn is a pgx connection that takes this package's '?' queries.
type pgConn struct{ *stdlib.Conn }

func (c *pgConn) Prepare(query string) (driver.Stmt, error) {
	st, err := c.Conn.Prepare(rebind(query))
	return markStmt(st), unavailable(err)
}

func (c *pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	st, err := c.Conn.PrepareContext(ctx, rebind(query))
	return markStmt(st), unavailable(err)
}

// pgStmt is a prepared statement whose errors are marked as pgConn's are:
// a prepared query (the token lookup) that meets a PostgreSQL going down is
// ErrUnavailable too, so it answers 503 with the database message.
type pgStmt struct{ *stdlib.Stmt }

func markStmt(st driver.Stmt) driver.Stmt {
	if s, ok := st.(*stdlib.Stmt); ok {
		return pgStmt{s}
	}
	return st
}

func (s pgStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	res, err := s.Stmt.ExecContext(ctx, args)
	return res, unavailable(err)
}

func (s pgStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	rows, err := s.Stmt.QueryContext(ctx, args)
	return rows, unavailable(err)
}

func (c *pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	res, err := c.Conn.ExecContext(ctx, rebind(query), args)
	return res, unavailable(err)
}

func (c *pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	rows, err := c.Conn.QueryContext(ctx, rebind(query), args)
	return rows, unavailable(err)
}

func (c *pgConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.Conn.BeginTx(ctx, opts)
	return tx, unavailable(err)
}

// CheckNamedValue stores Go bools as the 0/1 of the INTEGER flag columns
// (SQLite's driver does the same).
func (c *pgConn) CheckNamedValue(v *driver.NamedValue) error {
	if b, ok := v.Value.(bool); ok {
		v.Value = int64(0)
		if b {
			v.Value = int64(1)
		}
	}
	return c.Conn.CheckNamedValue(v)
}
