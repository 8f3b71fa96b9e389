package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// `serval store copy` moves an instance to another store (SQLite to
// PostgreSQL when a team outgrows one machine): every table of the schema,
// rows as they are (ids, password hashes, token hashes, sessions, device
// codes, invitations, events and the usage summaries), in one transaction
// of the target, with the summary triggers off (the summaries are copied,
// not recounted). Then it compares each table's row count and checksum on
// both sides.

// copyOrder lists the tables a row may reference first; tables of later
// migrations that it does not name are copied after them, by name.
var copyOrder = []string{"users", "tokens", "sessions", "invitations", "device_codes", "events", "usage_days", "usage_latency"}

// ErrTargetNotEmpty refuses a copy onto a store that holds rows.
var ErrTargetNotEmpty = errors.New("the target database is not empty")

// TableCopy is one table's result of Copy.
type TableCopy struct {
	Table    string
	Rows     int64
	Checksum string // hex SHA-256 over the rows, independent of their order
}

// Copy copies every row of src into dst, which must be empty and at the
// same schema version, then checks row counts and checksums.
func Copy(ctx context.Context, src, dst *Store) ([]TableCopy, error) {
	if dst.dialect != postgresDialect {
		return nil, errors.New("copy: the target must be a PostgreSQL database (--to postgres://...)")
	}
	sv, err := src.Version(ctx)
	if err != nil {
		return nil, fmt.Errorf("copy: source schema: %w", err)
	}
	dv, err := dst.Version(ctx)
	if err != nil {
		return nil, fmt.Errorf("copy: target schema: %w", err)
	}
	if sv != dv {
		return nil, fmt.Errorf("copy: the source is at schema %d and the target at %d; open both with this serval first", sv, dv)
	}
	tables, err := src.tables(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range tables {
		var n int64
		if err := dst.db.QueryRowContext(ctx, `SELECT count(*) FROM `+t).Scan(&n); err != nil {
			return nil, fmt.Errorf("copy: target table %s: %w", t, err)
		}
		if n > 0 {
			return nil, fmt.Errorf("copy: %w: table %s has %d rows. Copy only into a new, empty database (serval creates its tables); nothing was written", ErrTargetNotEmpty, t, n)
		}
	}
	tx, err := dst.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	defer tx.Rollback()
	// The summaries are copied as they are: counting the copied events
	// again would double them.
	if _, err := tx.ExecContext(ctx, `ALTER TABLE events DISABLE TRIGGER USER`); err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	for _, t := range tables {
		if err := copyTable(ctx, src.db, tx, t); err != nil {
			return nil, fmt.Errorf("copy: table %s: %w (nothing was written)", t, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `ALTER TABLE events ENABLE TRIGGER USER`); err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	// New rows continue after the copied ids.
	for _, t := range tables {
		cols, err := columns(ctx, src.db, t)
		if err != nil {
			return nil, err
		}
		if slices.Contains(cols, "id") {
			if _, err := tx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('`+t+`', 'id'), coalesce(max(id), 0) + 1, false) FROM `+t); err != nil {
				return nil, fmt.Errorf("copy: table %s: ids: %w", t, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("copy: commit: %w", err)
	}
	var out []TableCopy
	for _, t := range tables {
		a, err := checksum(ctx, src.db, t)
		if err != nil {
			return nil, err
		}
		b, err := checksum(ctx, dst.db, t)
		if err != nil {
			return nil, err
		}
		if a != b {
			return out, fmt.Errorf("copy: table %s differs after the copy: source %d rows (checksum %s), target %d rows (checksum %s)",
				t, a.Rows, a.Checksum[:12], b.Rows, b.Checksum[:12])
		}
		out = append(out, a)
	}
	return out, nil
}

// tables lists the schema's tables in copy order (bookkeeping tables,
// serval_* and sqlite_*, are not data).
func (s *Store) tables(ctx context.Context) ([]string, error) {
	q := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if s.dialect == postgresDialect {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`
	}
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	defer rows.Close()
	var rest []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(n, "serval_") && !strings.HasPrefix(n, "sqlite_") && !slices.Contains(copyOrder, n) {
			rest = append(rest, n)
		}
	}
	slices.Sort(rest)
	return append(slices.Clone(copyOrder), rest...), rows.Err()
}

func columns(ctx context.Context, db *sql.DB, table string) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT * FROM `+table+` WHERE 1 = 0`)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	defer rows.Close()
	return rows.Columns()
}

// copyBatch rows go in one INSERT (10 columns × 500 stays far below
// PostgreSQL's 65,535 parameters).
const copyBatch = 500

func copyTable(ctx context.Context, src *sql.DB, dst *sql.Tx, table string) error {
	cols, err := columns(ctx, src, table)
	if err != nil {
		return err
	}
	rows, err := src.QueryContext(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+table)
	if err != nil {
		return err
	}
	defer rows.Close()
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	var args []any
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		n := len(args) / len(cols)
		q := `INSERT INTO ` + table + `(` + strings.Join(cols, ", ") + `) VALUES ` + strings.TrimSuffix(strings.Repeat(one+", ", n), ", ")
		_, err := dst.ExecContext(ctx, q, args...)
		args = args[:0]
		return err
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		args = append(args, vals...)
		if len(args) >= copyBatch*len(cols) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return flush()
}

// checksum hashes every row of table (its columns by name, values as text,
// NULL distinct from the empty string), sorts the row hashes and hashes
// them: equal for the same rows in either dialect, whatever their order.
func checksum(ctx context.Context, db *sql.DB, table string) (TableCopy, error) {
	cols, err := columns(ctx, db, table)
	if err != nil {
		return TableCopy{}, err
	}
	slices.Sort(cols)
	rows, err := db.QueryContext(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+table)
	if err != nil {
		return TableCopy{}, fmt.Errorf("checksum %s: %w", table, err)
	}
	defer rows.Close()
	var sums [][32]byte
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var b []byte
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return TableCopy{}, fmt.Errorf("checksum %s: %w", table, err)
		}
		b = b[:0]
		for _, v := range vals {
			// Each value as 'N' (NULL), or 'V' and its text quoted.
			switch v := v.(type) {
			case nil:
				b = append(b, 'N')
			case int64:
				b = strconv.AppendQuote(append(b, 'V'), strconv.FormatInt(v, 10))
			case string:
				b = strconv.AppendQuote(append(b, 'V'), v)
			case []byte:
				b = strconv.AppendQuote(append(b, 'V'), string(v))
			case bool: // not stored by serval, but 0/1 either way
				b = strconv.AppendQuote(append(b, 'V'), map[bool]string{false: "0", true: "1"}[v])
			default:
				b = strconv.AppendQuote(append(b, 'V'), fmt.Sprint(v))
			}
		}
		sums = append(sums, sha256.Sum256(b))
	}
	if err := rows.Err(); err != nil {
		return TableCopy{}, fmt.Errorf("checksum %s: %w", table, err)
	}
	slices.SortFunc(sums, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	h := sha256.New()
	for _, s := range sums {
		h.Write(s[:])
	}
	return TableCopy{Table: table, Rows: int64(len(sums)), Checksum: hex.EncodeToString(h.Sum(nil))}, nil
}
