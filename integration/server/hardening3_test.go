package server_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/server/store"

	_ "modernc.org/sqlite"
)

// newToken creates a token called name in s's database.
func newToken(t *testing.T, s *servaltest.Server, name string) string {
	t.Helper()
	st, err := store.Open(context.Background(), s.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	secret, err := st.CreateToken(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// reusedTokens sends prefix as token and returns debug_data.usage.reused_tokens.
func reusedTokens(t *testing.T, s *servaltest.Server, token, prefix string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"language": "go", "max_tokens": 2,
		"segments": map[string]string{"prefix": prefix, "suffix": "\n}\n"}, "debug_options": map[string]bool{"return_prompt": false}})
	status, _, out := do(t, "POST", s.URL+"/v1/completions", token, string(body))
	if status != 200 {
		t.Fatalf("completion: %d %s", status, out)
	}
	var resp struct {
		DebugData struct {
			Usage struct {
				ReusedTokens int `json:"reused_tokens"`
			} `json:"usage"`
		} `json:"debug_data"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatal(err)
	}
	return resp.DebugData.Usage.ReusedTokens
}

// L1: one user's prompt in the shared slot is no cache for another (the
// reused count, or the prompt's time, told how much of a guess matched
// the victim's file); a user's own typing still reuses its cache.
func TestPromptCacheIsPerClient(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{Args: []string{"--rate-limit", "-1"}})
	victim, prober := s.Token, newToken(t, s, "prober")
	secret := "package main\n\n// the deploy key is " + strings.Repeat("K7x9Q2 ", 40) + "\nfunc main() {\n\t"
	reusedTokens(t, s, victim, secret)
	if n := reusedTokens(t, s, prober, secret+"x"); n != 0 {
		t.Errorf("another token's request reused %d tokens of the victim's prompt", n)
	}
	reusedTokens(t, s, victim, secret)
	if n := reusedTokens(t, s, victim, secret+"fmt."); n < 50 {
		t.Errorf("the victim's own next keystroke reused only %d tokens", n)
	}
}

// L9: the database and its -wal and -shm files are the owner's alone.
func TestDatabaseFilesArePrivate(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{})
	if status, _, body := do(t, "GET", s.URL+"/v1/health", s.Token, ""); status != 200 {
		t.Fatalf("health: %d %s", status, body)
	}
	for _, name := range []string{"serval.db", "serval.db-wal", "serval.db-shm"} {
		fi, err := os.Stat(filepath.Join(s.DataDir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s is %o, want 600", name, mode)
		}
	}
}

// L8: a database another process holds write-locked for longer than the
// busy timeout (5 s) does not turn API calls into errors, nor show the
// client SQLite's error text: the token is read, its last-use record is
// skipped.
func TestWriteLockedDatabaseStillServes(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{})
	token := newToken(t, s, "fresh") // never used: its check wants a write
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.DataDir, "serval.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	status, _, body := do(t, "GET", s.URL+"/v1/health", token, "")
	conn.ExecContext(context.Background(), "ROLLBACK")
	if status != 200 {
		t.Errorf("health while the database is write-locked: %d %s", status, body)
	}
	if strings.Contains(strings.ToLower(body), "locked") || strings.Contains(body, "SQL") {
		t.Errorf("the answer shows the database's error: %s", body)
	}
}

// /static/ serves the files pages link to, not a listing of them.
func TestStaticDirectoryIsNotListed(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{})
	if status, _, body := do(t, "GET", s.URL+"/static/", "", ""); status != 404 || strings.Contains(body, "app.css") {
		t.Errorf("GET /static/: %d %.200s", status, body)
	}
	if status, _, _ := do(t, "GET", s.URL+"/static/app.css", "", ""); status != 200 {
		t.Errorf("GET /static/app.css: %d", status)
	}
}

// M3: /infill refuses a flood of stop strings before building their matcher.
func TestInfillBoundsStopStrings(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{Args: []string{"--rate-limit", "-1"}})
	stops := make([]string, 10000)
	for i := range stops {
		stops[i] = "stop" + strings.Repeat("x", i%50)
	}
	body, _ := json.Marshal(map[string]any{"input_prefix": "func main() {", "input_suffix": "}", "n_predict": 2, "stop": stops})
	if status, _, out := do(t, "POST", s.URL+"/infill", s.Token, string(body)); status != 400 || !strings.Contains(out, "stop") {
		t.Errorf("10,000 stop strings: %d %.200s", status, out)
	}
	body, _ = json.Marshal(map[string]any{"input_prefix": "func main() {", "input_suffix": "}", "n_predict": 2, "stop": []string{"\n\n"}})
	if status, _, out := do(t, "POST", s.URL+"/infill", s.Token, string(body)); status != 200 {
		t.Errorf("one stop string: %d %.200s", status, out)
	}
}
