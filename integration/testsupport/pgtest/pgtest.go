// Package pgtest runs a private PostgreSQL cluster for tests: initdb in a
// temporary directory, the server on a free loopback port (no Unix socket),
// password authentication, stopped and removed after. PostgreSQL refuses to
// run as root, so when the tests run as root the cluster belongs to the
// `postgres` user that Debian's package creates.
//
// One cluster serves a whole test package (start it lazily with Shared and
// stop it from TestMain with Run); each test takes a fresh database of it
// with NewDatabase. Without PostgreSQL the tests skip, or fail when
// SERVAL_REQUIRE_POSTGRES=1 (as `make test` sets).
//
// pg_ctl starts the server as a daemon, so a test binary that is killed
// (a -timeout panic, SIGKILL, a closed terminal) leaves its cluster
// running. Each cluster directory names its owner (the test process's pid
// and start time, in the file "owner"), and Start first stops and removes
// the clusters whose owner is gone.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// Required reports whether SERVAL_REQUIRE_POSTGRES=1 asks tests to fail
// rather than skip when PostgreSQL is missing.
func Required() bool { return os.Getenv("SERVAL_REQUIRE_POSTGRES") == "1" }

// BinDir finds PostgreSQL's server programs: $SERVAL_PG_BINDIR, else the
// newest /usr/lib/postgresql/<version>/bin (Debian's layout), else initdb's
// directory on $PATH. "" when there is none.
func BinDir() string {
	if d := os.Getenv("SERVAL_PG_BINDIR"); d != "" {
		return d
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real)
		}
		return filepath.Dir(p)
	}
	return ""
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Cluster is a running private PostgreSQL server.
type Cluster struct {
	Dir      string // the temporary directory: data/, log, pwfile
	Port     int
	Password string // of the superuser "postgres"
	bin      string
	cred     *syscall.Credential // the postgres user's, when running as root
	admin    *sql.DB
}

// Start creates and starts a cluster.
func Start() (*Cluster, error) {
	bin := BinDir()
	if bin == "" {
		return nil, errors.New("PostgreSQL not found (no /usr/lib/postgresql/*/bin, no initdb on $PATH, $SERVAL_PG_BINDIR unset); install Debian's postgresql package (`make deps` does)")
	}
	c := &Cluster{bin: bin, Password: randomHex(12)}
	if os.Geteuid() == 0 {
		cred, err := postgresUser()
		if err != nil {
			return nil, err
		}
		c.cred = cred
	}
	reapOrphans(bin, c.cred, os.TempDir())
	dir, err := os.MkdirTemp("", clusterPrefix+"*")
	if err != nil {
		return nil, err
	}
	c.Dir = dir
	if err := writeOwner(dir); err != nil {
		c.remove()
		return nil, err
	}
	if err := c.chown(dir); err != nil {
		c.remove()
		return nil, err
	}
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(c.Password+"\n"), 0o600); err != nil {
		c.remove()
		return nil, err
	}
	if err := c.chown(pwfile); err != nil {
		c.remove()
		return nil, err
	}
	if out, err := c.command("initdb", "-D", c.dataDir(), "-U", "postgres", "--pwfile", pwfile,
		"--auth", "scram-sha-256", "-E", "UTF8", "--locale", "C", "--no-sync").CombinedOutput(); err != nil {
		c.remove()
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	// A free port may be taken between asking and listening: try a few.
	for attempt := 0; ; attempt++ {
		c.Port, err = freePort()
		if err != nil {
			c.remove()
			return nil, err
		}
		if err = c.StartServer(); err == nil {
			break
		}
		if attempt == 2 {
			c.remove()
			return nil, err
		}
	}
	c.admin, err = sql.Open("pgx", c.URL("postgres"))
	if err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// URL is the connection URL of database db as the superuser.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/%s?sslmode=disable", c.Password, c.Port, db)
}

// StartServer starts the (stopped) server on c.Port and waits until it
// accepts connections.
func (c *Cluster) StartServer() error {
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories='' -c fsync=off -c max_connections=200", c.Port)
	out, err := c.command("pg_ctl", "-D", c.dataDir(), "-l", filepath.Join(c.Dir, "log"), "-o", opts, "-w", "-t", "60", "start").CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(c.Dir, "log"))
		return fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, tail(log, 2000))
	}
	return nil
}

// StopServer stops the server (fast shutdown: open connections are cut,
// committed transactions kept), leaving the cluster to start again.
func (c *Cluster) StopServer() error {
	out, err := c.command("pg_ctl", "-D", c.dataDir(), "-m", "fast", "-w", "-t", "60", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// Stop stops the server and removes the cluster.
func (c *Cluster) Stop() error {
	if c.admin != nil {
		c.admin.Close()
	}
	err := c.StopServer()
	c.remove()
	return err
}

// CreateDatabase creates an empty database called name and returns its URL.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) (string, error) {
	// name is made by the tests (letters, digits, '_'); quoted all the same.
	if _, err := c.admin.ExecContext(ctx, `CREATE DATABASE "`+name+`"`); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return c.URL(name), nil
}

// DropDatabase drops database name, ending its connections.
func (c *Cluster) DropDatabase(ctx context.Context, name string) error {
	_, err := c.admin.ExecContext(ctx, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`)
	return err
}

// NewDatabase creates a fresh database for the test, dropped after it, and
// returns its URL.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	name := "t_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, err := c.CreateDatabase(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.DropDatabase(ctx, name); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return url
}

// Admin is a connection pool to the "postgres" database as superuser.
func (c *Cluster) Admin() *sql.DB { return c.admin }

var (
	sharedOnce sync.Once
	shared     *Cluster
	sharedErr  error
)

// Shared returns the test package's cluster, starting it on first use, or
// skips the test (fails it when SERVAL_REQUIRE_POSTGRES=1) without one.
// The package's TestMain must call Run so that it is stopped.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = Start() })
	if sharedErr != nil {
		if Required() {
			t.Fatalf("PostgreSQL: %v (SERVAL_REQUIRE_POSTGRES=1)", sharedErr)
		}
		t.Skipf("PostgreSQL: %v", sharedErr)
	}
	return shared
}

// Run runs the package's tests and then stops the shared cluster, if one
// was started: call it from TestMain as os.Exit(pgtest.Run(m)).
func Run(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	return code
}

func (c *Cluster) dataDir() string { return filepath.Join(c.Dir, "data") }

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

func (c *Cluster) chown(path string) error {
	if c.cred == nil {
		return nil
	}
	return os.Chown(path, int(c.cred.Uid), int(c.cred.Gid))
}

func (c *Cluster) remove() { os.RemoveAll(c.Dir) }

func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and PostgreSQL refuses root: no `postgres` user to run it as (%w); install Debian's postgresql package", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return bytes.TrimSpace(b)
}
