// Package deploy_test checks what docs/deploy ships: the Prometheus alert
// rules are valid, behave as their unit tests say (promtool), and use only
// metrics a real serval exports.
package deploy_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/llamalib"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/server/api"
)

func deployDir(t *testing.T) string {
	t.Helper()
	root := llamalib.RepoRoot()
	if root == "" {
		t.Fatal("not inside the serval module")
	}
	return filepath.Join(root, "docs", "deploy")
}

// TestAlertRulesPromtool: `promtool check rules` and the rules' unit tests.
func TestAlertRulesPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("SERVAL_REQUIRE_PROMTOOL") != "" {
			t.Fatal("promtool is not installed (make test-alerts installs Debian's prometheus package)")
		}
		t.Skip("alert rules not checked: promtool is not installed (apt-get install prometheus; make test-alerts does)")
	}
	dir := deployDir(t)
	for _, args := range [][]string{
		{"check", "rules", "serval-alerts.yml"},
		{"test", "rules", "serval-alerts.test.yml"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestAlertRulesUseServalsMetrics: every serval_* series the rules query is
// exported by a real serval (one on the test model, one in front of an
// upstream pool), so a renamed metric cannot silently disarm an alert.
func TestAlertRulesUseServalsMetrics(t *testing.T) {
	rules, err := os.ReadFile(filepath.Join(deployDir(t), "serval-alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, name := range regexp.MustCompile(`serval_[a-z_]+`).FindAllString(string(rules), -1) {
		used[name] = true
	}
	if len(used) < 5 {
		t.Fatalf("found only %v in the rules", used)
	}

	local := servaltest.Start(t, servaltest.Options{})
	ctx := context.Background()
	if _, err := local.Client.Complete(ctx, &api.CompletionRequest{Language: "go", Segments: &api.Segments{Prefix: "func main() {\n\t"}}); err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not now", http.StatusServiceUnavailable)
	}))
	defer upstream.Close()
	pool := servaltest.Start(t, servaltest.Options{Model: "openai:" + upstream.URL + "/v1#coder"})

	exported := scrape(t, local) + scrape(t, pool)
	for name := range used {
		if !regexp.MustCompile(`(?m)^` + name + `[{ ]`).MatchString(exported) {
			t.Errorf("the rules use %s, which serval does not export", name)
		}
	}
}

func scrape(t *testing.T, s *servaltest.Server) string {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}
