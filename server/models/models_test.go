package models

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servalhq/serval/server/prompt"
)

func TestBuiltinRegistry(t *testing.T) {
	r := Builtin()
	for _, name := range []string{"Qwen2.5-Coder-0.5B", "Qwen2.5-Coder-1.5B", "StarCoder-1B", "Qwen2-1.5B-Instruct", "CodeLlama-7B", "CodeGemma-2B"} {
		if _, ok := r.Lookup(name); !ok {
			t.Errorf("built-in registry lacks %s", name)
		}
	}
	if e, ok := r.Lookup("qwen2.5-coder-0.5b"); !ok || e.Name != "Qwen2.5-Coder-0.5B" || e.Template != "qwen" || e.Kind != KindCompletion {
		t.Errorf("case-insensitive lookup = %+v, %v", e, ok)
	}
	if e, _ := r.Lookup("Qwen2-1.5B-Instruct"); e.Kind != KindChat {
		t.Errorf("Qwen2-1.5B-Instruct kind = %q", e.Kind)
	}
	if e, _ := r.Lookup("StarCoder-1B"); e.Template != "starcoder" {
		t.Errorf("StarCoder-1B template = %q", e.Template)
	}
	for _, e := range r.Entries() {
		if err := e.validate(); err != nil {
			t.Error(err)
		}
		if e.Kind == KindCompletion {
			if _, ok := prompt.LookupTemplate(e.Template); !ok {
				t.Errorf("%s: template %q is not a built-in template", e.Name, e.Template)
			}
		}
	}
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadRegistryMergesAndValidates(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	r, err := LoadRegistry(writeFile(t, "reg.toml", `
[models."Qwen2.5-Coder-0.5B"]
url = "http://mirror.example/qwen.gguf"

[models.Tiny]
url = "http://127.0.0.1:1/tiny.gguf"
sha256 = "`+strings.ToUpper(sum)+`"
template = "<PRE>{prefix}<SUF>{suffix}<MID>"
license = "MIT"
`))
	if err != nil {
		t.Fatal(err)
	}
	q, _ := r.Lookup("Qwen2.5-Coder-0.5B")
	builtinQ, _ := Builtin().Lookup("Qwen2.5-Coder-0.5B")
	if q.URL != "http://mirror.example/qwen.gguf" || q.SHA256 != builtinQ.SHA256 || q.Template != "qwen" {
		t.Errorf("override = %+v; want the url replaced and the rest kept", q)
	}
	tiny, ok := r.Lookup("tiny")
	if !ok || tiny.Name != "Tiny" || tiny.Kind != KindCompletion || tiny.SHA256 != sum || tiny.License != "MIT" {
		t.Errorf("added entry = %+v, %v", tiny, ok)
	}
	if len(r.Names()) != len(Builtin().Names())+1 {
		t.Errorf("Names = %v", r.Names())
	}

	for _, c := range []struct{ toml, wantErr string }{
		{`[models.X]` + "\n" + `url = "http://h/x"` + "\n" + `sha256 = "abc"`, "64 hex"},
		{`[models.X]` + "\n" + `url = "ftp://h/x"` + "\n" + `sha256 = "` + sum + `"`, "http or https"},
		{`[models.X]` + "\n" + `kind = "embedding"`, "kind"},
		{`[models."../evil"]` + "\n" + `kind = "chat"`, "directory name"},
		{`[models.X]` + "\n" + `template = "nonsense"`, "template"},
		{`[models.X]` + "\n" + `urll = "http://h/x"`, "unknown keys models.X.urll"},
		{`[models.X`, "model registry"},
	} {
		_, err := LoadRegistry(writeFile(t, "bad.toml", c.toml))
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("LoadRegistry(%q) error = %v, want one mentioning %q", c.toml, err, c.wantErr)
		}
	}
	if _, err := LoadRegistry(filepath.Join(t.TempDir(), "missing.toml")); err == nil {
		t.Error("a missing registry file was accepted")
	}
}

// modelServer serves one generated file with Range support, counting
// requests; the first `interruptions` GETs are cut after half the bytes.
type modelServer struct {
	*httptest.Server
	content []byte

	mu            sync.Mutex
	ranges        []string // Range header of each request ("" when none)
	interruptions int
}

func newModelServer(t *testing.T, size int) *modelServer {
	t.Helper()
	content := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range content {
		content[i] = byte(rng.Uint32())
	}
	s := &modelServer{content: content}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.mu.Lock()
		s.ranges = append(s.ranges, req.Header.Get("Range"))
		interrupt := s.interruptions > 0
		if interrupt {
			s.interruptions--
		}
		s.mu.Unlock()
		if interrupt {
			w.Header().Set("Content-Length", fmt.Sprint(len(content)))
			w.WriteHeader(http.StatusOK)
			w.Write(content[:len(content)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // drop the connection mid-body
		}
		http.ServeContent(w, req, "model.gguf", time.Time{}, bytes.NewReader(content))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *modelServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ranges...)
}

func (s *modelServer) sha() string {
	sum := sha256.Sum256(s.content)
	return hex.EncodeToString(sum[:])
}

// registryFor writes a registry file with a "Tiny" model served by srv.
func registryFor(t *testing.T, url, sha string) *Registry {
	t.Helper()
	r, err := LoadRegistry(writeFile(t, "registry.toml", fmt.Sprintf(`
[models.Tiny]
kind = "completion"
url = %q
sha256 = %q
template = "qwen"
`, url, sha)))
	if err != nil {
		t.Fatal(err)
	}
	r.Download.RetryDelay = time.Millisecond
	return r
}

func TestResolveDownloads(t *testing.T) {
	srv := newModelServer(t, 3<<20)
	r := registryFor(t, srv.URL+"/tiny.gguf", srv.sha())
	dataDir := t.TempDir()
	var progress bytes.Buffer
	path, entry, err := r.Resolve(context.Background(), "Tiny", dataDir, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dataDir, "models", "Tiny", "model.gguf") || entry.Name != "Tiny" || entry.Template != "qwen" {
		t.Errorf("Resolve = %q, %+v", path, entry)
	}
	assertContent(t, path, srv.content)
	if _, err := os.Stat(path + ".partial"); !os.IsNotExist(err) {
		t.Errorf("partial file left behind: %v", err)
	}
	if out := progress.String(); !strings.Contains(out, "downloading Tiny") || !strings.Contains(out, "100.0%") {
		t.Errorf("progress output %q", out)
	}
}

func assertContent(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, not the %d served", path, len(got), len(want))
	}
}

func TestResolveResumesInterruptedDownload(t *testing.T) {
	srv := newModelServer(t, 1<<20)
	srv.interruptions = 1
	r := registryFor(t, srv.URL+"/tiny.gguf", srv.sha())
	r.Download.Attempts = 1
	dataDir := t.TempDir()
	dest := ModelFile(dataDir, "Tiny")

	// The first run is cut off half way: it fails and keeps the partial file.
	if _, _, err := r.Resolve(context.Background(), "Tiny", dataDir, nil); err == nil {
		t.Fatal("an interrupted download succeeded")
	}
	if fi, err := os.Stat(dest + ".partial"); err != nil || fi.Size() != int64(len(srv.content)/2) {
		t.Fatalf("partial file after interruption: %v, %v", fi, err)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Fatal("model.gguf exists after an interrupted download")
	}
	// The second run asks only for the rest.
	path, _, err := r.Resolve(context.Background(), "Tiny", dataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	assertContent(t, path, srv.content)
	want := []string{"", fmt.Sprintf("bytes=%d-", len(srv.content)/2)}
	if got := srv.requests(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("requests' Range headers = %q, want %q", got, want)
	}
}

func TestResolveRetriesWithinOneCall(t *testing.T) {
	srv := newModelServer(t, 1<<20)
	srv.interruptions = 2
	r := registryFor(t, srv.URL+"/tiny.gguf", srv.sha())
	path, _, err := r.Resolve(context.Background(), "Tiny", t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	assertContent(t, path, srv.content)
	if got := srv.requests(); len(got) != 3 || got[1] == "" || got[2] == "" {
		t.Errorf("requests' Range headers = %q, want resumed requests after each cut", got)
	}
}

func TestResolveCompletePartialIsRenamed(t *testing.T) {
	// A crash after the transfer but before the rename leaves a complete
	// partial file; the server answers 416 to its Range and the hash decides.
	srv := newModelServer(t, 4096)
	r := registryFor(t, srv.URL+"/tiny.gguf", srv.sha())
	dataDir := t.TempDir()
	dest := ModelFile(dataDir, "Tiny")
	os.MkdirAll(filepath.Dir(dest), 0o755)
	if err := os.WriteFile(dest+".partial", srv.content, 0o644); err != nil {
		t.Fatal(err)
	}
	path, _, err := r.Resolve(context.Background(), "Tiny", dataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	assertContent(t, path, srv.content)
}

func TestResolveSHAMismatch(t *testing.T) {
	srv := newModelServer(t, 64<<10)
	r := registryFor(t, srv.URL+"/tiny.gguf", strings.Repeat("0", 64))
	dataDir := t.TempDir()
	_, _, err := r.Resolve(context.Background(), "Tiny", dataDir, nil)
	if err == nil || !strings.Contains(err.Error(), "sha256") || !strings.Contains(err.Error(), srv.sha()) {
		t.Fatalf("error = %v, want a sha256 mismatch naming the actual hash", err)
	}
	dest := ModelFile(dataDir, "Tiny")
	for _, p := range []string{dest, dest + ".partial"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s exists after a hash mismatch", p)
		}
	}
}

// noNetwork fails the test if Resolve makes any request.
type noNetwork struct{ t *testing.T }

func (n noNetwork) RoundTrip(req *http.Request) (*http.Response, error) {
	n.t.Errorf("unexpected request to %s", req.URL)
	return nil, errors.New("network used")
}

func TestResolveOfflineWithFilePresent(t *testing.T) {
	srv := newModelServer(t, 8192)
	r := registryFor(t, srv.URL+"/tiny.gguf", srv.sha())
	dataDir := t.TempDir()
	first, _, err := r.Resolve(context.Background(), "Tiny", dataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	r.Download.Client = &http.Client{Transport: noNetwork{t}}
	second, entry, err := r.Resolve(context.Background(), "tiny", dataDir, nil)
	if err != nil || second != first || entry.Name != "Tiny" {
		t.Fatalf("offline Resolve = %q, %+v, %v; want %q", second, entry, err, first)
	}
	// The built-in names work offline the same way.
	q := ModelFile(dataDir, "Qwen2.5-Coder-0.5B")
	os.MkdirAll(filepath.Dir(q), 0o755)
	os.WriteFile(q, []byte("GGUF"), 0o644)
	if got, _, err := r.Resolve(context.Background(), "Qwen2.5-Coder-0.5B", dataDir, nil); err != nil || got != q {
		t.Errorf("Resolve(Qwen2.5-Coder-0.5B) = %q, %v", got, err)
	}
}

func TestResolveOfflineWithoutFile(t *testing.T) {
	srv := newModelServer(t, 8192)
	url := srv.URL + "/tiny.gguf"
	srv.Close() // nothing listens there any more: connections are refused
	r := registryFor(t, url, srv.sha())
	dataDir := t.TempDir()
	_, _, err := r.Resolve(context.Background(), "Tiny", dataDir, nil)
	if err == nil {
		t.Fatal("Resolve succeeded with no server and no file")
	}
	msg := err.Error()
	for _, want := range []string{ModelFile(dataDir, "Tiny"), url, srv.sha(), "place it at", "--model serval-tiny", "make run MODEL=serval-tiny"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
}

func TestResolveUnknownAndPaths(t *testing.T) {
	r := Builtin()
	_, _, err := r.Resolve(context.Background(), "NoSuchModel", t.TempDir(), nil)
	if !errors.Is(err, ErrUnknownModel) || !strings.Contains(err.Error(), "Qwen2.5-Coder-0.5B") || !strings.Contains(err.Error(), "StarCoder-1B") {
		t.Errorf("unknown model error = %v; want ErrUnknownModel listing the known names", err)
	}
	if _, _, err := r.Resolve(context.Background(), "", t.TempDir(), nil); err == nil {
		t.Error("empty model accepted")
	}
	if _, _, err := r.Resolve(context.Background(), "/no/such/model.gguf", t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "/no/such/model.gguf") {
		t.Errorf("missing path error = %v", err)
	}
	if _, _, err := r.Resolve(context.Background(), t.TempDir()+"/", t.TempDir(), nil); err == nil {
		t.Error("a directory was accepted as a model file")
	}

	known := writeFile(t, "qwen2.5-coder-1.5b-q8_0.gguf", "GGUF")
	path, entry, err := r.Resolve(context.Background(), known, t.TempDir(), nil)
	if err != nil || path != known || entry.Name != "Qwen2.5-Coder-1.5B" {
		t.Errorf("Resolve(%s) = %q, %+v, %v", known, path, entry, err)
	}
	other := writeFile(t, "my-starcoder-finetune.gguf", "GGUF")
	if _, entry, err := r.Resolve(context.Background(), other, t.TempDir(), nil); err != nil || entry.Name != "my-starcoder-finetune" || entry.Template != "starcoder" {
		t.Errorf("guessed entry = %+v, %v", entry, err)
	}
}

func TestParseContentRange(t *testing.T) {
	for _, c := range []struct {
		in          string
		start, size int64
		ok          bool
	}{
		{"bytes 100-199/200", 100, 200, true},
		{"bytes 0-0/*", 0, -1, true},
		{"bytes */200", 0, 0, false},
		{"items 1-2/3", 0, 0, false},
		{"", 0, 0, false},
	} {
		start, size, ok := parseContentRange(c.in)
		if start != c.start || size != c.size || ok != c.ok {
			t.Errorf("parseContentRange(%q) = %d, %d, %v", c.in, start, size, ok)
		}
	}
}

func FuzzLoadRegistry(f *testing.F) {
	f.Add("[models.X]\nurl = \"http://h/x\"\nsha256 = \"" + strings.Repeat("a", 64) + "\"\n")
	f.Add("[models.\"Qwen2.5-Coder-0.5B\"]\ntemplate = \"{prefix}{suffix}\"\n")
	f.Add("models = 3")
	f.Fuzz(func(t *testing.T, text string) {
		p := filepath.Join(t.TempDir(), "r.toml")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := LoadRegistry(p)
		if err != nil {
			return
		}
		for _, e := range r.Entries() {
			if err := e.validate(); err != nil {
				t.Fatalf("loaded an invalid entry: %v", err)
			}
		}
	})
}

// stallingServer sends half of a file and then nothing until the test ends.
func stallingServer(t *testing.T, content []byte) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(content)))
		w.Write(content[:len(content)/2])
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-req.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv
}

func TestResolveStalledTransferIsAborted(t *testing.T) {
	content := bytes.Repeat([]byte("gguf"), 16<<10)
	sum := sha256.Sum256(content)
	srv := stallingServer(t, content)
	r := registryFor(t, srv.URL+"/tiny.gguf", hex.EncodeToString(sum[:]))
	r.Download.StallTimeout = 50 * time.Millisecond
	r.Download.Attempts = 2
	dataDir := t.TempDir()
	_, _, err := r.Resolve(context.Background(), "Tiny", dataDir, nil)
	if err == nil || !strings.Contains(err.Error(), "no data for 50ms") {
		t.Fatalf("error = %v, want a stall", err)
	}
	if fi, err := os.Stat(ModelFile(dataDir, "Tiny") + ".partial"); err != nil || fi.Size() == 0 {
		t.Errorf("the partial download was not kept for resuming: %v", err)
	}
}

func TestResolveCancelled(t *testing.T) {
	content := bytes.Repeat([]byte("gguf"), 16<<10)
	sum := sha256.Sum256(content)
	srv := stallingServer(t, content)
	r := registryFor(t, srv.URL+"/tiny.gguf", hex.EncodeToString(sum[:]))
	ctx, cancel := context.WithCancel(context.Background())
	// Cancel once the first half has arrived: the progress bar sees it.
	progress := &cancelAfter{cancel: cancel, needle: "50.0%"}
	_, _, err := r.Resolve(ctx, "Tiny", t.TempDir(), progress)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
}

// cancelAfter cancels a context when the progress output mentions needle.
type cancelAfter struct {
	mu     sync.Mutex
	buf    strings.Builder
	needle string
	cancel context.CancelFunc
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if strings.Contains(c.buf.String(), c.needle) {
		c.cancel()
	}
	return len(p), nil
}
