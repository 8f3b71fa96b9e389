// Package context_test checks, across packages, that code context found
// by context/gather reaches the body of a completion request: a definition
// in one file of a temporary workspace appears in the request for a
// completion in another file, and nothing from an ignored or secret file
// ever does.
package context_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servalhq/serval/context/gather"
	"github.com/servalhq/serval/server/api"
)

// recorder is a stand-in completion server that keeps every request body.
type recorder struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/health", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(api.HealthState{Model: "recorder", Device: "cpu"})
	})
	mux.HandleFunc("/v1/events", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("/v1/completions", func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, body)
		r.mu.Unlock()
		json.NewEncoder(w).Encode(api.CompletionResponse{ID: "cmpl-rec", Choices: []api.Choice{{Text: "items, 0.1)"}}})
	})
	r.Server = httptest.NewServer(mux)
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.bodies))
	for i, b := range r.bodies {
		out[i] = string(b)
	}
	return out
}

func write(t *testing.T, root, name, content string) string {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// workspace lays out a small Go module: the callee in one file, a
// gitignored file and a secret-looking file that also define names the
// completion uses, and the file being edited.
func workspace(t *testing.T) (root, mainPath, mainText string, cursor int) {
	root = t.TempDir()
	write(t, root, "go.mod", "module example.com/shop\n")
	write(t, root, ".gitignore", "local/\n")
	write(t, root, "cart/total.go", `package cart

// computeTotal sums the prices of items after the discount.
func computeTotal(items []Item, discount float64) float64 {
	sum := 0.0
	for _, it := range items {
		sum += it.Price
	}
	return sum * (1 - discount)
}
`)
	write(t, root, "local/override.go", "package cart\n\nfunc applyCoupon() string { return \"IGNORED-FILE-CONTENT\" }\n")
	write(t, root, "cart/api_secret.go", "package cart\n\nfunc loadKey() string { return \"SECRET-FILE-CONTENT\" }\n")
	mainText = `package cart

func checkout(items []Item) float64 {
	applyCoupon()
	loadKey()
	total := computeTotal(`
	cursor = len(mainText)
	mainText += "\n\treturn total\n}\n"
	mainPath = write(t, root, "cart/checkout.go", mainText)
	return root, mainPath, mainText, cursor
}

func checkBody(t *testing.T, body string) {
	t.Helper()
	var req api.CompletionRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatalf("request body is not a completion request: %v\n%s", err, body)
	}
	found := false
	for _, d := range req.Segments.Declarations {
		if d.Filepath == "cart/total.go" && strings.HasPrefix(d.Body, "func computeTotal(items []Item, discount float64) float64 {") {
			found = true
		}
	}
	if !found {
		t.Errorf("the definition of computeTotal from cart/total.go is not in the request body:\n%s", body)
	}
	for _, leak := range []string{"IGNORED-FILE-CONTENT", "SECRET-FILE-CONTENT", "func applyCoupon", "func loadKey"} {
		if strings.Contains(body, leak) {
			t.Errorf("the request body contains %q from an ignored or secret file:\n%s", leak, body)
		}
	}
}

// TestDefinitionReachesRequestBody builds the request the way the agent
// does (segments from a Gather result) and sends it with the typed client
// to a recording server.
func TestDefinitionReachesRequestBody(t *testing.T) {
	root, mainPath, mainText, cursor := workspace(t)
	// A source timeout far above the editor's 50 ms default: on a loaded
	// machine the declarations source can miss 50 ms, and this single
	// Gather would then have nothing to send.
	g, err := gather.New(gather.Config{SourceTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.AddWorkspaceFolder(context.Background(), root); err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("index not ready after 30s")
	}
	uri := "file://" + mainPath
	g.DidOpen(uri, mainPath, "go", []byte(mainText))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := g.Gather(ctx, gather.Request{URI: uri, Offset: cursor})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(t)
	client, err := api.NewClient(rec.URL, "token", rec.Client())
	if err != nil {
		t.Fatal(err)
	}
	seg := &api.Segments{Prefix: res.Prefix, Suffix: res.Suffix, Filepath: "cart/checkout.go"}
	for _, d := range res.Declarations {
		seg.Declarations = append(seg.Declarations, api.Declaration{Filepath: d.Filepath, Body: d.Body})
	}
	for _, s := range res.ChangedSnippets {
		seg.RelevantSnippetsFromChangedFiles = append(seg.RelevantSnippetsFromChangedFiles, api.Snippet{Filepath: s.Filepath, Body: s.Body, Score: s.Score})
	}
	for _, s := range res.OpenedSnippets {
		seg.RelevantSnippetsFromRecentlyOpenedFiles = append(seg.RelevantSnippetsFromRecentlyOpenedFiles, api.Snippet{Filepath: s.Filepath, Body: s.Body, Score: s.Score})
	}
	req := &api.CompletionRequest{Language: "go", Segments: seg}
	if _, err := client.Complete(ctx, req); err != nil {
		t.Fatal(err)
	}
	bodies := rec.all()
	if len(bodies) != 1 {
		t.Fatalf("recorded %d requests, want 1", len(bodies))
	}
	checkBody(t, bodies[0])
}
