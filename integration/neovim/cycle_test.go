package neovim

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/server/api"
	"github.com/servalhq/serval/server/store"
)

// cycleReport is what testdata/cycle.lua writes.
type cycleReport struct {
	Version    string   `json:"version"`
	Steps      []string `json:"steps"`
	Error      string   `json:"error"`
	Automatic  string   `json:"automatic"`
	Candidates []string `json:"candidates"`
	Shown      []string `json:"shown"`
	Hints      []string `json:"hints"`
	Cursor     [2]int   `json:"cursor"`
	Before     []string `json:"before"`
	After      []string `json:"after"`
}

// TestCycleCandidates: on 0.7, 0.10 and 0.12, the real agent's explicit
// answer holds two or three distinct candidates after post-processing, the
// documented cycle keys (<M-]>, <M-[>) show the second, the next and the
// second again starting from the single item typing gave, <Tab> inserts the
// candidate shown, and the server records that the second one was accepted.
func TestCycleCandidates(t *testing.T) {
	requireEnabled(t)
	srv := servaltest.Start(t, servaltest.Options{Args: []string{"--rate-limit", "-1", "--max-tokens", "12"}})
	agent := servaltest.AgentBinary(t)
	for _, b := range builds(t) {
		t.Run(b.version, func(t *testing.T) {
			b.check(t)
			accepted := choiceAccepts(t, srv.DataDir, 1)
			r := runCycle(t, b, srv, agent)
			c := r.Candidates
			distinct := map[string]bool{}
			for _, s := range c {
				distinct[s] = true
			}
			if len(c) < 2 || len(c) > 3 || len(distinct) != len(c) {
				t.Fatalf("explicit answer: candidates %q, want 2 or 3 distinct", c)
			}
			want := []string{c[1], c[2%len(c)], c[1]}
			if strings.Join(r.Shown, "\x00") != strings.Join(want, "\x00") {
				t.Errorf("<M-]>, <M-]>, <M-[> showed %q, want %q (candidates %q)", r.Shown, want, c)
			}
			if b.version == "0.12.4" {
				// The built-in says which of how many it shows.
				n := len(c)
				wantHints := []string{fmt.Sprintf(" (2/%d)", n), fmt.Sprintf(" (%d/%d)", 2%n+1, n), fmt.Sprintf(" (2/%d)", n)}
				if strings.Join(r.Hints, "|") != strings.Join(wantHints, "|") {
					t.Errorf("hints %q, want %q", r.Hints, wantHints)
				}
			}
			// Tab inserted the second candidate at the cursor.
			if wantAfter := insertAt(r.Before, r.Cursor[0], r.Cursor[1], c[1]); strings.Join(r.After, "\n") != strings.Join(wantAfter, "\n") {
				t.Errorf("after <Tab>:\n%q\nwant\n%q", r.After, wantAfter)
			}
			deadline := time.Now().Add(20 * time.Second) // the agent posts events in the background
			for choiceAccepts(t, srv.DataDir, 1) == accepted {
				if time.Now().After(deadline) {
					t.Fatal("the server recorded no accept of candidate 1 (the second)")
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
}

func runCycle(t *testing.T, b nvimBuild, srv *servaltest.Server, agent string) cycleReport {
	dir := t.TempDir()
	file := filepath.Join(dir, "main.go")
	if err := os.WriteFile(file, []byte(goFile), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "report.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.path, "--headless", "-u", "NONE", "-i", "NONE",
		"-c", "luafile "+filepath.Join(repoRoot(t), "integration", "neovim", "testdata", "cycle.lua"), file)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"HOME="+dir,
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_STATE_HOME="+filepath.Join(dir, "state"),
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"SERVAL_NVIM_PLUGIN="+filepath.Join(repoRoot(t), "clients", "neovim"),
		"SERVAL_AGENT="+agent,
		"SERVAL_TEST_OUT="+out,
		fmt.Sprintf("SERVAL_TEST_LINE=%d", typeLine),
		"SERVAL_TEST_TYPE="+typed,
		"SERVAL_TEST_ENDPOINT="+srv.URL, "SERVAL_TEST_TOKEN="+srv.Token, "SERVAL_ENDPOINT=", "SERVAL_TOKEN=",
	)
	var r cycleReport
	stderr := b.runScenario(t, cmd, out, &r)
	if r.Version != b.version {
		t.Errorf("ran Neovim %q, want %s", r.Version, b.version)
	}
	t.Logf("Neovim %s: typing showed %q; candidates %q; the cycle keys showed %q %q", b.version, r.Automatic, r.Candidates, r.Shown, r.Hints)
	if r.Error != "" {
		t.Fatalf("scenario failed after steps %v: %s\nnvim output:\n%s\n%s", r.Steps, r.Error, stderr, lspLogs(dir))
	}
	return r
}

// choiceAccepts counts the whole-item accepts ("select" events) of candidate
// index choice the server stored.
func choiceAccepts(t *testing.T, dataDir string, choice int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := store.Open(ctx, dataDir)
	if err != nil {
		t.Fatalf("open the server's store: %v", err)
	}
	defer st.Close()
	events, err := st.Events(ctx, 100000)
	if err != nil {
		t.Fatalf("read events: %v", err)
	}
	n := 0
	for _, e := range events {
		if e.Type == api.EventSelect && e.SelectKind == "" && e.ChoiceIndex == choice {
			n++
		}
	}
	return n
}
