package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/pgtest"
)

// One PostgreSQL cluster serves the package's tests; each test takes a
// database of its own.
func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// openPostgresTemp opens the store on a fresh database of the shared cluster.
func openPostgresTemp(t testing.TB) *Store {
	t.Helper()
	s, err := OpenPostgres(context.Background(), pgtest.Shared(t).NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// forEachDialect runs fn once on a fresh SQLite store and once on a fresh
// PostgreSQL one.
func forEachDialect(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Run("sqlite", func(t *testing.T) {
		s, _ := openTemp(t)
		fn(t, s)
	})
	t.Run("postgres", func(t *testing.T) { fn(t, openPostgresTemp(t)) })
}

func TestRebind(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT a FROM t WHERE a = ? AND b = ?`, `SELECT a FROM t WHERE a = $1 AND b = $2`},
		{`SELECT '?', "?" FROM t WHERE a = ? -- is it?` + "\n" + `AND b = ?`, `SELECT '?', "?" FROM t WHERE a = $1 -- is it?` + "\n" + `AND b = $2`},
		{`SELECT 'it''s ?' WHERE x = ?`, `SELECT 'it''s ?' WHERE x = $1`},
		{`SELECT '?`, `SELECT '?`},
	} {
		if got := rebind(c.in); got != c.want {
			t.Errorf("rebind(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// column is one column as both dialects describe it, types reduced to
// what the store relies on.
type column struct {
	Table, Name, Kind string
	NotNull           bool
}

// TestSchemasAgree: the two dialects' migrations build the same tables,
// columns (name, integer or text, NOT NULL) and indexes.
func TestSchemasAgree(t *testing.T) {
	ctx := context.Background()
	lite, _ := openTemp(t)
	pg := openPostgresTemp(t)

	var liteCols []column
	liteIdx := map[string]bool{}
	rows, err := lite.db.QueryContext(ctx, `SELECT m.name, p.name, p.type, p."notnull" OR p.pk > 0
		FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' ORDER BY m.name, p.name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c column
		var typ string
		if err := rows.Scan(&c.Table, &c.Name, &typ, &c.NotNull); err != nil {
			t.Fatal(err)
		}
		c.Kind = strings.ToLower(typ)
		liteCols = append(liteCols, c)
	}
	rows.Close()
	idx, err := lite.db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	for idx.Next() {
		var n string
		idx.Scan(&n)
		liteIdx[n] = true
	}
	idx.Close()

	var pgCols []column
	pgIdx := map[string]bool{}
	rows, err = pg.db.QueryContext(ctx, `SELECT table_name, column_name, data_type, is_nullable = 'NO'
		FROM information_schema.columns WHERE table_schema = current_schema() AND table_name NOT LIKE 'serval\_%'
		ORDER BY table_name COLLATE "C", column_name COLLATE "C"`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c column
		var typ string
		if err := rows.Scan(&c.Table, &c.Name, &typ, &c.NotNull); err != nil {
			t.Fatal(err)
		}
		switch typ {
		case "bigint":
			c.Kind = "integer"
		default:
			c.Kind = typ
		}
		pgCols = append(pgCols, c)
	}
	rows.Close()
	// PostgreSQL names the indexes of primary keys and UNIQUE constraints;
	// SQLite's are automatic (no sql).
	idx, err = pg.db.QueryContext(ctx, `SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()
		AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_key'`)
	if err != nil {
		t.Fatal(err)
	}
	for idx.Next() {
		var n string
		idx.Scan(&n)
		pgIdx[n] = true
	}
	idx.Close()

	if !slices.Equal(liteCols, pgCols) {
		for _, c := range liteCols {
			if !slices.Contains(pgCols, c) {
				t.Errorf("SQLite has %+v, PostgreSQL does not", c)
			}
		}
		for _, c := range pgCols {
			if !slices.Contains(liteCols, c) {
				t.Errorf("PostgreSQL has %+v, SQLite does not", c)
			}
		}
	}
	if fmt.Sprint(liteIdx) != fmt.Sprint(pgIdx) {
		t.Errorf("indexes differ:\n SQLite     %v\n PostgreSQL %v", liteIdx, pgIdx)
	}
	if len(liteCols) < 40 {
		t.Fatalf("only %d columns read: the comparison read nothing", len(liteCols))
	}
}

func TestPostgresMigratesOnceUnderConcurrentOpens(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	results := make([]Migration, 4)
	errs := make([]error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := OpenPostgres(ctx, url)
			if err == nil {
				results[i] = s.Migrated()
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	migrated := 0
	for i := range 4 {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if results[i].From != results[i].To {
			migrated++
		}
	}
	if migrated != 1 {
		t.Fatalf("%d opens migrated, want 1: %+v", migrated, results)
	}
}

// TestPostgresBadInput: each mistake in --database gives a message naming
// what to fix, and touches nothing.
func TestPostgresBadInput(t *testing.T) {
	c := pgtest.Shared(t)
	ctx := context.Background()
	good := c.NewDatabase(t)

	foreign := c.NewDatabase(t)
	fdb, err := sql.Open("pgx", foreign)
	if err != nil {
		t.Fatal(err)
	}
	defer fdb.Close()
	if _, err := fdb.Exec(`CREATE TABLE invoices (id int); CREATE TABLE users (id int)`); err != nil {
		t.Fatal(err)
	}

	newer := c.NewDatabase(t)
	s, err := OpenPostgres(ctx, newer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`UPDATE serval_schema SET version = ?`, SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	s.Close()

	wrongPassword := strings.Replace(good, c.Password, "not-the-password", 1)
	unreachable := fmt.Sprintf("postgres://postgres:secret@127.0.0.1:%d/x?sslmode=disable", closedPort(t))
	missing := strings.Replace(good, "/t_", "/nosuchdb_", 1)
	for _, tc := range []struct {
		name, url string
		want      []string
	}{
		{"malformed", "postgres://postgres:secret@127.0.0.1:notaport/x", []string{"not a valid PostgreSQL URL", "postgres://USER:PASSWORD@HOST:5432/DATABASE"}},
		{"wrong password", wrongPassword, []string{"password authentication failed", "check the user and password"}},
		{"unreachable", unreachable, []string{"cannot use PostgreSQL", "is PostgreSQL running and reachable"}},
		{"missing database", missing, []string{"does not exist", "create it first"}},
		{"another application's database", foreign, []string{"tables serval did not create (invoices, users)", "database of its own", "nothing was changed"}},
		{"newer schema", newer, []string{fmt.Sprintf("schema version %d", SchemaVersion+1), "newer serval"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := OpenDatabase(ctx, tc.url, t.TempDir())
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			for _, secret := range []string{c.Password, "secret", "not-the-password"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows the password", err)
				}
			}
		})
	}
	var n int
	if err := fdb.QueryRow(`SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("the other application's database has %d tables (%v), want its 2", n, err)
	}
	if _, err := OpenDatabase(ctx, "mysql://x@y/z", t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a postgres:// URL or a SQLite file path") {
		t.Fatalf("mysql URL: %v", err)
	}
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestOpenDatabaseChoosesTheDialect(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenDatabase(ctx, "", dir)
	if err != nil || s.IsPostgres() {
		t.Fatalf("default: %v", err)
	}
	s.Close()
	if _, err := os.Stat(dir + "/" + FileName); err != nil {
		t.Fatal("no database in the data dir:", err)
	}
	file := t.TempDir() + "/other.db"
	s, err = OpenDatabase(ctx, file, dir)
	if err != nil || s.IsPostgres() {
		t.Fatalf("file: %v", err)
	}
	s.Close()
	if _, err := os.Stat(file); err != nil {
		t.Fatal(err)
	}
	s, err = OpenDatabase(ctx, pgtest.Shared(t).NewDatabase(t), dir)
	if err != nil || !s.IsPostgres() {
		t.Fatalf("postgres: %v", err)
	}
	defer s.Close()
	if v, err := s.Version(ctx); err != nil || v != SchemaVersion {
		t.Fatalf("version %d, %v", v, err)
	}
}

// TestSharedRateLimit: two stores on one PostgreSQL database (two
// replicas) take from one budget per token.
// twoReplicas opens two stores on one fresh PostgreSQL database, as two
// replicas do.
func twoReplicas(t *testing.T) [2]*Store {
	t.Helper()
	url := pgtest.Shared(t).NewDatabase(t)
	var replicas [2]*Store
	for i := range replicas {
		s, err := OpenPostgres(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		replicas[i] = s
	}
	return replicas
}

func TestSharedRateLimit(t *testing.T) {
	ctx := context.Background()
	replicas := twoReplicas(t)
	allowed := 0
	var wait time.Duration
	for i := range 12 {
		w, ok, err := replicas[i%2].TakeRequest(ctx, "alice/laptop", 6, 5) // one per 10 s, bursts of 5
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			allowed++
		} else {
			wait = w
		}
	}
	if allowed != 5 {
		t.Fatalf("%d of 12 requests allowed over two replicas, want the burst of 5", allowed)
	}
	if wait <= 0 || wait > 10*time.Second {
		t.Fatalf("retry after %v, want up to the 10 s interval", wait)
	}
	// Another token has its own budget.
	if _, ok, err := replicas[1].TakeRequest(ctx, "bob/desk", 6, 5); err != nil || !ok {
		t.Fatalf("bob: %v %v", ok, err)
	}
	lite, _ := openTemp(t)
	if _, _, err := lite.TakeRequest(ctx, "x", 6, 5); !errors.Is(err, ErrNoSharedLimits) {
		t.Fatalf("SQLite: %v", err)
	}
}

// TestSetupCodesAreSharedAndUsedUp: a setup code made by one store works on
// another on the same database, and the first account uses every code up.
func TestSetupCodesAreSharedAndUsedUp(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a, err := s.CreateLink(ctx, LinkSetup, 0, "", 0, SetupLinkTTL)
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.CreateLink(ctx, LinkSetup, 0, "", 0, SetupLinkTTL)
		if err != nil {
			t.Fatal(err)
		}
		for _, code := range []string{a, b} {
			if _, err := s.CheckLink(ctx, LinkSetup, code); err != nil {
				t.Fatal(err)
			}
			if _, err := s.CheckLink(ctx, LinkInvite, code); !errors.Is(err, ErrCodeInvalid) {
				t.Fatal("a setup code works as an invitation")
			}
		}
		if links, err := s.ListLinks(ctx); err != nil || len(links) != 0 {
			t.Fatalf("setup codes listed among invitations: %+v %v", links, err)
		}
		if _, err := s.CreateFirstAdmin(ctx, "root", "$argon2id$x"); err != nil {
			t.Fatal(err)
		}
		for _, code := range []string{a, b} {
			if _, err := s.CheckLink(ctx, LinkSetup, code); !errors.Is(err, ErrCodeInvalid) {
				t.Fatalf("setup code still valid after setup: %v", err)
			}
		}
	})
}

// TestBulkInsertBoundsTheUsageLocks: one transaction storing thousands of
// events takes at most usageLockBuckets advisory locks (one per choice
// overflowed PostgreSQL's lock table: "out of shared memory").
func TestBulkInsertBoundsTheUsageLocks(t *testing.T) {
	s := openPostgresTemp(t)
	ctx := context.Background()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO events(created_at, token_name, type, completion_id, choice_index, language)
		SELECT 0, 'a', 'view', 'c' || i, 0, 'go' FROM generate_series(1, 3000) AS g(i)`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n > usageLockBuckets {
		t.Fatalf("%d advisory locks held for 3,000 events, want at most %d", n, usageLockBuckets)
	}
}
