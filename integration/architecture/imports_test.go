// Package architecture checks the layering that docs/architecture.md
// describes: which of Serval's packages may import which. The rules are
// deny-lists by path, so a new package is checked by the rules of the layer
// it lands in without editing this file.
package architecture

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/servalhq/serval/"

// rule forbids packages matching from (but not except) to import packages
// matching any of deny, except those matching allow. Patterns are
// module-relative paths; a trailing "/..." also matches the path itself and
// everything below it.
type rule struct {
	from   string
	except []string
	deny   []string
	allow  []string
	why    string
}

var rules = []rule{
	{from: "context/...", deny: []string{"agent/...", "lsp/...", "server/...", "integration/..."},
		why: "the context layer knows nothing of the agent, the editor protocol or the server's wire types"},
	{from: "context/syntax/...", deny: []string{"context/index/...", "context/gather/...", "context/recent/...", "context/ignore/..."},
		why: "syntax is the bottom of the context layer"},
	{from: "context/ignore/...", deny: []string{"context/index/...", "context/gather/...", "context/recent/...", "context/syntax/..."},
		why: "ignore rules stand alone"},
	{from: "context/recent/...", deny: []string{"context/index/...", "context/gather/..."},
		why: "recent work is below the gatherer"},
	{from: "context/index/...", deny: []string{"context/gather/..."},
		why: "the index is below the gatherer"},
	{from: "agent/...", except: []string{"agent/cmd/..."}, deny: []string{"lsp/...", "server/...", "integration/..."}, allow: []string{"server/api"},
		why: "the agent talks to the server only through server/api and knows nothing of LSP"},
	{from: "agent/postprocess/...", deny: []string{"agent", "context/gather/...", "context/index/...", "server/..."},
		why: "post-processing is a pure function of text"},
	{from: "lsp/...", deny: []string{"context/...", "server/...", "integration/..."},
		why: "the LSP layer converts positions and calls the agent; the agent converts to the context layer's types"},
	{from: "server/...", deny: []string{"agent/...", "lsp/...", "context/...", "integration/..."},
		why: "the server is independent of the editor side"},
	{from: "server/api/...", deny: []string{"server/..."}, allow: []string{"server/api/..."},
		why: "the wire types and client stand alone"},
	{from: "server/engine/...", deny: []string{"server/..."}, allow: []string{"server/engine/..."},
		why: "engines know requests and tokens, not the HTTP API or prompts"},
	{from: "server/prompt/...", deny: []string{"server/api/...", "server/completion/...", "server/httpapi/...", "server/openaiapi/...", "server/internal/..."},
		why: "the wire request stops at the HTTP handler; prompts have their own Request"},
	{from: "server/completion/...", deny: []string{"server/api/...", "server/httpapi/...", "server/openaiapi/...", "server/internal/..."},
		why: "the wire request stops at the HTTP handler; the service has its own Request"},
	{from: "server/openaiapi/...", deny: []string{"server/httpapi/...", "server/api/..."},
		why: "the OpenAI routes share code with the Tabby routes through server/completion and server/internal, not each other"},
	{from: "server/oidc/...", deny: []string{"server/..."}, allow: []string{"server/oidc/..."},
		why: "OpenID sign-in knows a provider, not the web app or the store"},
	{from: "server/ldapauth/...", deny: []string{"server/..."}, allow: []string{"server/ldapauth/..."},
		why: "LDAP sign-in knows a directory, not the web app or the store"},
	{from: "server/connlimit/...", deny: []string{"server/..."}, allow: []string{"server/connlimit/..."},
		why: "the connection limit sits under the HTTP server, below every route"},
	{from: "server/store/...", deny: []string{"server/..."}, allow: []string{"server/store/..."},
		why: "storage is below everything that records"},
	{from: "telemetry/...", deny: []string{"agent/...", "lsp/...", "context/...", "server/...", "integration/...", "buildinfo/..."},
		why: "the tracing set-up is below both programs; instrumented packages use the OpenTelemetry API, not it"},
}

func match(pattern, path string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

func matchAny(patterns []string, path string) bool {
	for _, p := range patterns {
		if match(p, path) {
			return true
		}
	}
	return false
}

// violation returns the rule that forbids from importing to, if any.
func violation(from, to string) (rule, bool) {
	for _, r := range rules {
		if match(r.from, from) && !matchAny(r.except, from) && matchAny(r.deny, to) && !matchAny(r.allow, to) && from != to {
			return r, true
		}
	}
	return rule{}, false
}

type pkg struct {
	ImportPath string
	Imports    []string
}

// modulePackages lists the module's packages and their non-test imports.
func modulePackages(t *testing.T) []pkg {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports", "./...")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages; expected the whole module", len(pkgs))
	}
	return pkgs
}

func TestImportsFollowTheLayers(t *testing.T) {
	for _, p := range modulePackages(t) {
		from, ok := strings.CutPrefix(p.ImportPath, module)
		if !ok {
			continue
		}
		for _, imp := range p.Imports {
			to, ok := strings.CutPrefix(imp, module)
			if !ok {
				continue
			}
			if r, bad := violation(from, to); bad {
				t.Errorf("%s imports %s: %s (docs/architecture.md)", from, to, r.why)
			}
		}
	}
}

// The rules themselves catch what they should: each import the issue found
// against the layering is refused.
func TestRulesRefuseKnownLeaks(t *testing.T) {
	for _, c := range []struct{ from, to string }{
		{"context/gather", "server/api"},
		{"lsp", "context/gather"},
		{"server/prompt", "server/api"},
		{"server/completion", "server/api"},
		{"server/engine/llama", "server/prompt"},
		{"agent", "lsp"},
		{"context/syntax", "context/gather"},
		{"telemetry", "server/api"},
	} {
		if _, bad := violation(c.from, c.to); !bad {
			t.Errorf("%s importing %s is allowed", c.from, c.to)
		}
	}
	for _, c := range []struct{ from, to string }{
		{"agent", "server/api"},
		{"agent", "context/gather"},
		{"lsp", "agent"},
		{"agent/cmd/serval-agent", "lsp"},
		{"server/httpapi", "server/api"},
		{"server/engine/llama", "server/engine"},
		{"integration/bench", "server/api"},
		{"agent/cmd/serval-agent", "telemetry"},
		{"server/cmd/serval", "telemetry"},
	} {
		if r, bad := violation(c.from, c.to); bad {
			t.Errorf("%s importing %s is refused: %s", c.from, c.to, r.why)
		}
	}
}
