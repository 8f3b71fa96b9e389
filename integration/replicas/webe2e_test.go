package replicas

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/pgtest"
)

// TestWebE2EOnReplicaPair runs the web app's browser test
// (integration/web/e2e.mjs in Chromium: setup, tokens, device sign-in,
// invitations, deactivation, usage, the playground, password sign-in)
// against two replicas on one PostgreSQL behind HAProxy with
// docs/deploy/haproxy.cfg. The browser sends no Authorization header, so
// HAProxy's hash on it falls back to round-robin: consecutive pages go to
// alternate replicas, and a session, a device code or an invitation made on
// one is used on the other. The test then reads each replica's access log
// to show that both served the signed-in pages.
//
// It needs Chromium and playwright-core (integration/web/install.sh), so it
// runs from `make e2e-web`, which sets SERVAL_WEB_E2E=1.
func TestWebE2EOnReplicaPair(t *testing.T) {
	if os.Getenv("SERVAL_WEB_E2E") != "1" {
		t.Skip("the browser run: `make e2e-web` runs it (SERVAL_WEB_E2E=1, after integration/web/install.sh)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not found: integration/web/install.sh installs it")
	}
	dbURL := pgtest.Shared(t).NewDatabase(t)
	// Debug logs one line per request: which replica served which page.
	rs := startReplicas(t, dbURL, 2, "--log-level", "debug")
	var ports []int
	for _, r := range rs {
		u, _ := url.Parse(r.URL)
		p, _ := strconv.Atoi(u.Port())
		ports = append(ports, p)
	}
	lb := startHAProxy(t, ports)

	out, err := filepath.Abs("../web/out/replicas")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "../web/e2e.mjs")
	cmd.Env = append(os.Environ(),
		"SERVAL_E2E_BASE="+lb,
		"SERVAL_E2E_SETUP_URL="+lb+"/setup?code="+url.QueryEscape(setupCode(t, rs[0])),
		"SERVAL_E2E_OUT="+out)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	runErr := cmd.Run()
	for i, r := range rs {
		if err := os.WriteFile(filepath.Join(out, "serval-"+strconv.Itoa(i)+".log"), []byte(r.Logs()), 0o644); err != nil {
			t.Log(err)
		}
	}
	if runErr != nil {
		t.Fatalf("the web e2e against two replicas behind HAProxy failed (%v): its output is above, screenshots and both replicas' logs in %s", runErr, out)
	}

	// Both replicas served pages that only a signed-in user gets: the
	// sessions made on one worked on the other.
	for i, r := range rs {
		pages := signedInPages(r.Logs())
		t.Logf("replica %d served %d signed-in pages: %v", i, len(pages), pages)
		if len(pages) < 5 {
			t.Errorf("replica %d served %d signed-in pages (want at least 5 on each: HAProxy alternates a browser's requests)", i, len(pages))
		}
	}
}

// signedInPages lists the pages a replica's debug access log shows it
// answered with 200 to a browser (no token) that only a session gets.
func signedInPages(logs string) []string {
	var pages []string
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, "msg=request") || !strings.Contains(line, "status=200") || !strings.Contains(line, "token=-") {
			continue
		}
		path := field(line, "path")
		if strings.HasPrefix(path, "/admin/") || path == "/usage" || path == "/playground" || path == "/" {
			pages = append(pages, field(line, "method")+" "+path)
		}
	}
	return pages
}

// field is the value of key=value in a text log line.
func field(line, key string) string {
	_, v, ok := strings.Cut(line, " "+key+"=")
	if !ok {
		return ""
	}
	if strings.HasPrefix(v, `"`) {
		var s string
		if err := json.NewDecoder(strings.NewReader(v)).Decode(&s); err == nil {
			return s
		}
	}
	v, _, _ = strings.Cut(v, " ")
	return v
}
