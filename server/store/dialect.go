package store

import (
	"context"
	"database/sql/driver"
	"errors"
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

// lockUsersSQL takes the write lock that CreateFirstAdmin holds while it
// counts the users, so that two setups racing (in two processes, or on two
// replicas) cannot both find none.
func (d dialect) lockUsersSQL() string {
	if d == postgresDialect {
		// SHARE ROW EXCLUSIVE conflicts with itself and with every write.
		return `LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE`
	}
	// A write first takes SQLite's database write lock.
	return `UPDATE users SET id = id WHERE 0`
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
		return nil, err
	}
	return &pgConn{conn.(*stdlib.Conn)}, nil
}

// pgConn is a pgx connection that takes this package's '?' queries.
type pgConn struct{ *stdlib.Conn }

func (c *pgConn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.Prepare(rebind(query))
}

func (c *pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(query))
}

func (c *pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, rebind(query), args)
}

func (c *pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, rebind(query), args)
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
