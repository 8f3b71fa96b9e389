package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/servalhq/serval/context/gather"
	"github.com/servalhq/serval/server/api"
)

func TestConfigPrecedence(t *testing.T) {
	env := map[string]string{"SERVAL_ENDPOINT": "http://env:1", "SERVAL_TOKEN": ""}
	s := NewConfigStack(func(k string) string { return env[k] })
	file, err := ParseConfigTOML([]byte(`
[server]
endpoint = "http://file:1"
token = "file-token"
[completion]
timeout = 900
[completion.debounce]
mode = "fixed"
interval = 70
[completion.prompt]
maxPrefixChars = 100
`))
	if err != nil {
		t.Fatal(err)
	}
	c := s.Set(LayerFile, file)
	if c.Server.Endpoint != "http://env:1" || c.Server.Token != "file-token" {
		t.Fatalf("env over file: %+v (an empty SERVAL_TOKEN must not override the file's)", c.Server)
	}
	if c.Completion.TimeoutMS != 900 || c.Completion.Debounce.Mode != "fixed" || c.Completion.Prompt.MaxPrefixChars != 100 || c.Completion.Prompt.MaxSuffixChars != 4000 {
		t.Fatalf("file over defaults: %+v", c.Completion)
	}
	init, err := ParseConfigJSON([]byte(`{"server":{"endpoint":"http://init:1","token":""},"completion":{"debounce":{"interval":30}}}`))
	if err != nil {
		t.Fatal(err)
	}
	c = s.Set(LayerInitOptions, init)
	if c.Server.Endpoint != "http://init:1" || c.Server.Token != "file-token" || c.Completion.Debounce.IntervalMS != 30 {
		t.Fatalf("initializationOptions: %+v %+v", c.Server, c.Completion.Debounce)
	}
	client, _ := ParseConfigJSON([]byte(`{"server":{"token":"client-token"}}`))
	c = s.Set(LayerClient, client)
	if c.Server.Endpoint != "http://init:1" || c.Server.Token != "client-token" {
		t.Fatalf("didChangeConfiguration: %+v", c.Server)
	}
	// A later file edit changes what no higher layer sets.
	file.Completion.TimeoutMS = 1234
	if c = s.Set(LayerFile, file); c.Completion.TimeoutMS != 1234 || c.Server.Token != "client-token" {
		t.Fatalf("file reload: %+v", c)
	}
	if _, err := ParseConfigTOML([]byte("[server\nendpoint=")); err == nil {
		t.Fatal("bad TOML accepted")
	}
	bad := c
	bad.Completion.Debounce.Mode = "sometimes"
	if bad.Validate() == nil {
		t.Fatal("bad debounce mode accepted")
	}
}

func TestBadConfigLayerIsRejected(t *testing.T) {
	srv := newTestServer(t, "x")
	a := newTestAgent(t, srv.URL, Config{})
	if err := a.SetConfigLayer(LayerInitOptions, Config{Server: ServerConfig{Endpoint: "not a url"}}); err == nil {
		t.Fatal("a bad endpoint was accepted")
	}
	if err := a.SetConfigLayer(LayerClient, Config{Completion: CompletionConfig{Debounce: DebounceConfig{Mode: "sometimes"}}}); err == nil {
		t.Fatal("a bad debounce mode was accepted")
	}
	// The bad layers are gone: a good change still applies.
	if err := a.SetConfigLayer(LayerClient, Config{Server: ServerConfig{Token: "t"}}); err != nil {
		t.Fatal(err)
	}
	if c := a.Config(); c.Server.Endpoint != srv.URL || c.Server.Token != "t" {
		t.Fatalf("config %+v", c.Server)
	}
}

func TestWatchConfigFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.toml")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan Config, 10)
	if err := WatchConfigFile(ctx, path, func(c Config, err error) {
		if err == nil {
			got <- c
		}
	}); err != nil {
		t.Fatal(err)
	}
	// Written by replacing the file, as editors do.
	tmp := filepath.Join(dir, ".agent.toml.tmp")
	os.WriteFile(tmp, []byte("[server]\ntoken = \"new\"\n"), 0o600)
	os.Rename(tmp, path)
	select {
	case c := <-got:
		if c.Server.Token != "new" {
			t.Fatalf("reloaded %+v", c.Server)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("config change not seen")
	}
}

func TestDebounceDecisions(t *testing.T) {
	var d debouncer
	cfg := DebounceConfig{Mode: "adaptive", IntervalMS: 150}
	text := []byte("func main() {\n\tfoo.bar\n\t\n}")
	midWord := spotAt(text, strings.Index(string(text), "bar")+2)
	afterDot := spotAt(text, strings.Index(string(text), "bar"))
	lineEnd := spotAt(text, strings.Index(string(text), "bar")+3)
	newLine := spotAt(text, strings.Index(string(text), "\t\n}")+1)

	first := d.delay(cfg, midWord)
	if first <= 0 || first > maxDebounce {
		t.Fatalf("first delay %v (no latency known yet must not collapse it)", first)
	}
	for _, c := range []struct {
		name   string
		sooner cursorSpot
		later  cursorSpot
	}{
		{"after a non-word character", afterDot, midWord},
		{"at the end of the line", lineEnd, midWord},
		{"at the start of a new line", newLine, lineEnd},
	} {
		if s, l := d.delay(cfg, c.sooner), d.delay(cfg, c.later); s >= l {
			t.Errorf("%s: %v, not sooner than %v", c.name, s, l)
		}
	}
	// A fast typist (60 ms gaps) gets a shorter wait than the starting rhythm.
	now := time.Now()
	for i := 0; i < 10; i++ {
		d.keystroke(now.Add(time.Duration(i) * 60 * time.Millisecond))
	}
	if fast := d.delay(cfg, midWord); fast >= first {
		t.Errorf("fast typing: %v, not below %v", fast, first)
	}
	// Pauses are not rhythm.
	d.keystroke(now.Add(time.Hour))
	// A slow server: start earlier.
	before := d.delay(cfg, midWord)
	for i := 0; i < 10; i++ {
		d.latency(400 * time.Millisecond)
	}
	if after := d.delay(cfg, midWord); after >= before {
		t.Errorf("slow server: %v, not below %v", after, before)
	}
	if got := d.delay(DebounceConfig{Mode: "fixed", IntervalMS: 77}, midWord); got != 77*time.Millisecond {
		t.Errorf("fixed: %v", got)
	}
}

func TestCacheLRU(t *testing.T) {
	c := newCompletionCache(2, time.Minute)
	now := time.Now()
	k1, k2, k3 := c.key("u", "a", "b", 1), c.key("u", "a", "c", 1), c.key("v", "a", "b", 1)
	if k1 == k2 || k1 == k3 {
		t.Fatal("keys collide")
	}
	c.put(k1, "1", []cachedItem{{Text: "x"}}, now)
	c.put(k2, "2", nil, now)
	c.get(k1, now) // k1 is now the most recent
	c.put(k3, "3", nil, now)
	if _, ok := c.get(k2, now); ok {
		t.Error("least recently used entry not evicted")
	}
	if e, ok := c.get(k1, now); !ok || e.id != "1" {
		t.Error("recent entry evicted")
	}
	if _, ok := c.get(k1, now.Add(2*time.Minute)); ok {
		t.Error("expired entry served")
	}
}

func TestTypedAhead(t *testing.T) {
	text := []byte("x := \ny")
	s := newSuggestion("id", text, 5, []cachedItem{{Text: "foo(1,\n\t2)", ReplaceSuffixLen: 0}, {Text: "bar"}})
	typed := []byte("x := fo\ny")
	rest, got, ok := s.continueAt(typed, 7)
	if !ok || got != "fo" || len(rest) != 1 || rest[0].Text != "o(1,\n\t2)" {
		t.Fatalf("typed-ahead %v %q %+v", ok, got, rest)
	}
	// The whole remaining suggestion survives typing past the first line.
	typed = []byte("x := foo(1,\n\t\ny")
	if rest, _, ok = s.continueAt(typed, 13); !ok || rest[0].Text != "2)" {
		t.Fatalf("multi-line typed-ahead %v %+v", ok, rest)
	}
	for name, c := range map[string]struct {
		text string
		off  int
	}{
		"diverged":          {"x := fx\ny", 7},
		"suffix changed":    {"x := fo\nz", 7},
		"prefix changed":    {"z := fo\ny", 7},
		"all typed":         {"x := bar\ny", 8},
		"cursor moved back": {"x := \ny", 4},
	} {
		if _, _, ok := s.continueAt([]byte(c.text), c.off); ok {
			t.Errorf("%s: typed-ahead hit", name)
		}
	}
}

func TestTypedAheadOverAutoClosedBracket(t *testing.T) {
	text := []byte("x := \ny")
	s := newSuggestion("id", text, 5, []cachedItem{{Text: "foo(a, b)"}, {Text: "foo(a\n)"}})
	// The user types "foo(" and the editor inserts ")" after the cursor.
	typed := []byte("x := foo()\ny")
	rest, _, ok := s.continueAt(typed, 9)
	if !ok || len(rest) != 1 || rest[0].Text != "a, b)" || rest[0].ReplaceSuffixLen != 1 {
		t.Fatalf("after an auto-closed bracket: %v %+v", ok, rest)
	}
	// A closer the rest of the suggestion does not write again is no match.
	if _, _, ok := s.continueAt([]byte("x := foo(]\ny"), 9); ok {
		t.Fatal("matched with an unrelated closer after the cursor")
	}
}

func TestParseRemoteURL(t *testing.T) {
	cfg := "[core]\n\tbare = false\n[remote \"upstream\"]\n\turl = https://example.com/up.git\n[remote \"origin\"]\n\turl = git@example.com:me/repo.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n"
	if got := parseRemoteURL([]byte(cfg)); got != "git@example.com:me/repo.git" {
		t.Errorf("origin: %q", got)
	}
	if got := parseRemoteURL([]byte("[remote \"a\"]\nurl = u1\n")); got != "u1" {
		t.Errorf("first remote: %q", got)
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, ".git"), 0o755)
	os.WriteFile(filepath.Join(dir, ".git", "config"), []byte(cfg), 0o644)
	os.MkdirAll(filepath.Join(dir, "pkg", "sub"), 0o755)
	info := findRepo(filepath.Join(dir, "pkg", "sub"))
	if info.root != dir || info.remoteURL != "git@example.com:me/repo.git" {
		t.Errorf("findRepo %+v", info)
	}
}

func FuzzParseRemoteURL(f *testing.F) {
	f.Add("[remote \"origin\"]\nurl = x\n")
	f.Add("[[[\nurl=\n")
	f.Fuzz(func(t *testing.T, s string) { parseRemoteURL([]byte(s)) })
}

func FuzzConfigTOML(f *testing.F) {
	f.Add("[server]\nendpoint = \"http://a\"\n")
	f.Add("[completion.debounce]\ninterval = -1\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseConfigTOML([]byte(s))
		if err == nil {
			DefaultConfig().Merge(c).Validate()
		}
	})
}

func TestStatusFromErrors(t *testing.T) {
	now := time.Now()
	var ra time.Time
	cases := []struct {
		err  error
		want StatusKind
	}{
		{&api.StatusError{StatusCode: 401}, StatusUnauthorized},
		{&api.StatusError{StatusCode: 429, RetryAfter: time.Second}, StatusRateLimited},
		{&api.StatusError{StatusCode: 501}, StatusNoModel},
		{&api.StatusError{StatusCode: 503, RetryAfter: time.Second}, StatusRateLimited},
		{fmt.Errorf("dial tcp: %w", errors.New("connection refused")), StatusDisconnected},
	}
	for _, c := range cases {
		st, ok := errorStatus(c.err, now, &ra)
		if !ok || st.Kind != c.want {
			t.Errorf("%v: %v %v, want %s", c.err, st, ok, c.want)
		}
	}
	if st, _ := errorStatus(&api.StatusError{StatusCode: 401}, now, &ra); !strings.Contains(st.Message, "token") {
		t.Errorf("unauthorized message does not say how to set the token: %q", st.Message)
	}
	if _, ok := errorStatus(&api.StatusError{StatusCode: 503}, now, &ra); ok {
		t.Error("a 503 without Retry-After changed the status")
	}
	ra = time.Time{}
	if st, _ := errorStatus(&api.StatusError{StatusCode: 503, RetryAfter: 2 * time.Second}, now, &ra); st.Message != busyMessage || !ra.Equal(now.Add(2*time.Second)) {
		t.Errorf("503 with Retry-After: %v, pause until %v", st, ra)
	}
	if _, ok := errorStatus(context.Canceled, now, &ra); ok {
		t.Error("a cancelled request changed the status")
	}
	var tr statusTracker
	for i := 0; i < 5; i++ {
		tr.observe(6*time.Second, nil, now)
	}
	if st, _ := tr.observe(6*time.Second, nil, now); st.Kind != StatusSlow {
		t.Errorf("slow server: %v", st)
	}
}

// testServer is a minimal Serval stand-in for agent tests.
type testServer struct {
	*httptest.Server
	text      string
	requests  atomic.Int32
	block     chan struct{} // when set, completions wait for it or the client
	cancelled atomic.Int32
	status    atomic.Int32 // answer this status when set
	garbage   atomic.Bool
	// choices, when set, answers each request instead of one choice of text.
	choices    func(api.CompletionRequest) []api.Choice
	mu         sync.Mutex
	last       api.CompletionRequest
	lastHeader http.Header
	events     []api.LogEventRequest
}

// eventsSoFar returns "type:choice" of the events received, in order.
func (s *testServer) eventsSoFar() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.events {
		out = append(out, fmt.Sprintf("%s:%d", e.Type, e.ChoiceIndex))
	}
	return out
}

func newTestServer(t testing.TB, text string) *testServer {
	s := &testServer{text: text}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/health", func(w http.ResponseWriter, r *http.Request) {
		if code := s.status.Load(); code != 0 {
			w.WriteHeader(int(code))
			return
		}
		json.NewEncoder(w).Encode(api.HealthState{Model: "m", Device: "cpu"})
	})
	mux.HandleFunc("/v1/events", func(w http.ResponseWriter, r *http.Request) {
		var ev api.LogEventRequest
		json.NewDecoder(r.Body).Decode(&ev)
		s.mu.Lock()
		s.events = append(s.events, ev)
		s.mu.Unlock()
	})
	mux.HandleFunc("/v1/completions", func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		var req api.CompletionRequest
		json.NewDecoder(r.Body).Decode(&req)
		s.mu.Lock()
		s.last, s.lastHeader = req, r.Header.Clone()
		s.mu.Unlock()
		if code := s.status.Load(); code != 0 {
			w.WriteHeader(int(code))
			return
		}
		if s.block != nil {
			select {
			case <-s.block:
			case <-r.Context().Done():
				s.cancelled.Add(1)
				return
			}
		}
		if s.garbage.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte("{\"choices\": [nonsense"))
			return
		}
		choices := []api.Choice{{Text: s.text}}
		if s.choices != nil {
			choices = s.choices(req)
		}
		json.NewEncoder(w).Encode(api.CompletionResponse{ID: "cmpl-1", Choices: choices})
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func newTestAgent(t testing.TB, endpoint string, over Config) *Agent {
	stack := NewConfigStack(func(string) string { return "" })
	over.Server.Endpoint = endpoint
	stack.Set(LayerFile, over)
	a, err := New(Options{Config: stack})
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	t.Cleanup(func() { a.Close() })
	return a
}

func TestCompleteCachesAndSupersedes(t *testing.T) {
	srv := newTestServer(t, "Println(x)")
	a := newTestAgent(t, srv.URL, Config{})
	doc := Document{URI: "file:///tmp/x.go", LanguageID: "go", Version: 1, Text: []byte("package x\n\nfunc f() {\n\tfmt.\n}\n")}
	a.DidOpen(doc)
	off := strings.Index(string(doc.Text), "fmt.") + 4
	ctx := context.Background()
	res, err := a.Suggest(ctx, Request{Document: doc, Offset: off, Trigger: Invoked})
	if err != nil || len(res.Items) != 1 || res.Items[0].Text != "Println(x)" || res.Source != "server" {
		t.Fatalf("first: %+v %v", res, err)
	}
	res, _ = a.Suggest(ctx, Request{Document: doc, Offset: off, Trigger: Automatic})
	if res.Source != "typed-ahead" || srv.requests.Load() != 1 {
		t.Fatalf("same position again: %+v, %d requests", res, srv.requests.Load())
	}
	// Somewhere else and back: the LRU answers.
	a.Suggest(ctx, Request{Document: doc, Offset: 3, Trigger: Invoked})
	res, _ = a.Suggest(ctx, Request{Document: doc, Offset: off, Trigger: Invoked})
	if res.Source != "cache" || len(res.Items) != 1 {
		t.Fatalf("back to the first position: %+v", res)
	}

	// One request in flight per document: a newer one cancels the older.
	srv.block = make(chan struct{})
	doc2 := doc
	doc2.URI = "file:///tmp/y.go"
	a.DidOpen(doc2)
	first := make(chan *Result, 1)
	go func() {
		r, _ := a.Suggest(ctx, Request{Document: doc2, Offset: off, Trigger: Invoked})
		first <- r
	}()
	for i := 0; i < 1000 && srv.requests.Load() < 3; i++ {
		time.Sleep(2 * time.Millisecond)
	}
	go func() {
		a.Suggest(ctx, Request{Document: doc2, Offset: off - 1, Trigger: Invoked})
	}()
	r := <-first
	if len(r.Items) != 0 {
		t.Fatalf("superseded request returned items %+v", r)
	}
	for i := 0; i < 1000 && srv.cancelled.Load() < 1; i++ {
		time.Sleep(2 * time.Millisecond)
	}
	if srv.cancelled.Load() < 1 {
		t.Fatal("superseded HTTP request not aborted")
	}
	// An edit cancels too (once the second request is at the server).
	for i := 0; i < 1000 && srv.requests.Load() < 4; i++ {
		time.Sleep(2 * time.Millisecond)
	}
	a.DidChange(doc2, []Edit{{StartByte: 1, OldEndByte: 1, NewEndByte: 2}})
	for i := 0; i < 1000 && srv.cancelled.Load() < 2; i++ {
		time.Sleep(2 * time.Millisecond)
	}
	if srv.cancelled.Load() != 2 {
		t.Fatalf("edit did not abort the request (%d cancelled)", srv.cancelled.Load())
	}
	close(srv.block)
}

func TestCompleteEditorCancelReturnsError(t *testing.T) {
	srv := newTestServer(t, "x")
	srv.block = make(chan struct{})
	defer close(srv.block)
	a := newTestAgent(t, srv.URL, Config{})
	doc := Document{URI: "file:///z.go", LanguageID: "go", Text: []byte("package z\n")}
	a.DidOpen(doc)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for i := 0; i < 1000 && srv.requests.Load() == 0; i++ {
			time.Sleep(2 * time.Millisecond)
		}
		cancel()
	}()
	_, err := a.Suggest(ctx, Request{Document: doc, Offset: 9, Trigger: Invoked})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("editor cancel: %v", err)
	}
}

func TestServerFailuresAnswerEmptyInTime(t *testing.T) {
	srv := newTestServer(t, "x")
	doc := Document{URI: "file:///g.go", LanguageID: "go", Text: []byte("package g\n\nvar x = ")}
	// Garbage answers: empty, status unchanged.
	srv.garbage.Store(true)
	a := newTestAgent(t, srv.URL, Config{Completion: CompletionConfig{TimeoutMS: 300}})
	a.DidOpen(doc)
	res, err := a.Suggest(context.Background(), Request{Document: doc, Offset: len(doc.Text), Trigger: Invoked})
	if err != nil || len(res.Items) != 0 {
		t.Fatalf("garbage: %+v %v", res, err)
	}
	// Slow: empty when the timeout passes.
	srv.garbage.Store(false)
	srv.block = make(chan struct{})
	defer close(srv.block)
	res, err = a.Suggest(context.Background(), Request{Document: doc, Offset: len(doc.Text) - 1, Trigger: Invoked})
	if err != nil || len(res.Items) != 0 {
		t.Fatalf("slow: %+v %v", res, err)
	}
	// Unauthorized: status says so, and later requests answer at once.
	srv.status.Store(401)
	a.Suggest(context.Background(), Request{Document: doc, Offset: len(doc.Text) - 2, Trigger: Invoked})
	if st := a.Status(); st.Kind != StatusUnauthorized {
		t.Fatalf("status %v", st)
	}
	before := srv.requests.Load()
	a.Suggest(context.Background(), Request{Document: doc, Offset: len(doc.Text) - 3, Trigger: Invoked})
	if srv.requests.Load() != before {
		t.Fatal("a request went out while unauthorized")
	}
	// Server down: disconnected, then back by itself.
	srv.status.Store(0)
	a.SetConfigLayer(LayerClient, Config{Server: ServerConfig{Token: "fixed"}})
	deadline := time.Now().Add(20 * time.Second)
	for a.Status().Kind != StatusReady && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if a.Status().Kind != StatusReady {
		t.Fatalf("status after the token fix: %v", a.Status())
	}
}

func TestRequestSchema(t *testing.T) {
	srv := newTestServer(t, "x")
	a := newTestAgent(t, srv.URL, Config{})
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, ".git"), 0o755)
	os.WriteFile(filepath.Join(root, ".git", "config"), []byte("[remote \"origin\"]\n\turl = https://example.com/r.git\n"), 0o644)
	os.MkdirAll(filepath.Join(root, "pkg"), 0o755)
	a.AddWorkspaceFolder(context.Background(), root)
	doc := Document{URI: "file://" + filepath.Join(root, "pkg", "a.py"), LanguageID: "python", Text: []byte("def f():\n    return ")}
	a.DidOpen(doc)
	// The git remote is resolved in the background; wait for it (bounded).
	for i := 0; i < 500; i++ {
		if info, ok := a.repos.lookup(filepath.Join(root, "pkg")); ok && info.remoteURL != "" {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	a.Suggest(context.Background(), Request{Document: doc, Offset: len(doc.Text), Trigger: Invoked})
	srv.mu.Lock()
	req := srv.last
	srv.mu.Unlock()
	if req.Language != "python" || req.Segments == nil || req.Segments.Prefix != string(doc.Text) ||
		req.Segments.Filepath != "pkg/a.py" || req.Segments.GitURL != "https://example.com/r.git" {
		t.Fatalf("request %+v segments %+v", req, req.Segments)
	}
}

// BenchmarkCompleteOwnTime measures the agent's own time per completion on a
// 20,000-line file (debounce and server time excluded) and reports its p50
// and p99, with the plain windows and with context/gather as the context
// source.
func BenchmarkCompleteOwnTime(b *testing.B) {
	text := bigGoFile()
	for _, source := range []string{"windows", "syntax"} {
		b.Run(source, func(b *testing.B) {
			srv := newTestServer(b, "value := compute(input, 42)")
			stack := NewConfigStack(func(string) string { return "" })
			stack.Set(LayerFile, Config{Server: ServerConfig{Endpoint: srv.URL}, Completion: CompletionConfig{Cache: CacheConfig{Entries: -1}}})
			var ctxSrc ContextSource
			if source == "syntax" {
				g, err := gather.New(gather.Config{DisableGitDiff: true})
				if err != nil {
					b.Fatal(err)
				}
				ctxSrc = g
			}
			a, err := New(Options{Config: stack, Context: ctxSrc})
			if err != nil {
				b.Fatal(err)
			}
			a.Start()
			defer a.Close()
			doc := Document{URI: "file:///bench/big.go", LanguageID: "go", Text: []byte(text)}
			a.DidOpen(doc)
			own := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// A different position every time: no cache, no typed-ahead.
				off := (i*7919)%(len(doc.Text)-100) + 50
				res, err := a.Suggest(context.Background(), Request{Document: doc, Offset: off, Trigger: Invoked})
				if err != nil {
					b.Fatal(err)
				}
				own = append(own, res.AgentTime)
			}
			b.StopTimer()
			sort.Slice(own, func(i, j int) bool { return own[i] < own[j] })
			b.ReportMetric(float64(own[len(own)/2].Microseconds()), "own-p50-µs")
			b.ReportMetric(float64(own[len(own)*99/100].Microseconds()), "own-p99-µs")
		})
	}
}

func TestGathererContextAndExclusions(t *testing.T) {
	srv := newTestServer(t, "x")
	g, err := gather.New(gather.Config{DisableGitDiff: true})
	if err != nil {
		t.Fatal(err)
	}
	stack := NewConfigStack(func(string) string { return "" })
	stack.Set(LayerFile, Config{Server: ServerConfig{Endpoint: srv.URL}})
	a, err := New(Options{Config: stack, Context: g})
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	defer a.Close()
	dir := t.TempDir()
	secret := Document{URI: "file://" + filepath.Join(dir, ".env"), LanguageID: "dotenv", Text: []byte("API_KEY=")}
	a.DidOpen(secret)
	res, err := a.Suggest(context.Background(), Request{Document: secret, Offset: len(secret.Text), Trigger: Invoked})
	if err != nil || len(res.Items) != 0 || srv.requests.Load() != 0 {
		t.Fatalf("excluded file: %+v %v, %d requests (nothing of it may reach the server)", res, err, srv.requests.Load())
	}
	code := Document{URI: "file://" + filepath.Join(dir, "m.go"), LanguageID: "go", Text: []byte("package m\n\nfunc f() int {\n\treturn \n}\n")}
	a.DidOpen(code)
	off := strings.Index(string(code.Text), "return ") + 7
	if _, err := a.Suggest(context.Background(), Request{Document: code, Offset: off, Trigger: Invoked}); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	req := srv.last
	srv.mu.Unlock()
	if srv.requests.Load() != 1 || req.Segments == nil || !strings.HasSuffix(req.Segments.Prefix, "\treturn ") {
		t.Fatalf("gathered request %+v", req.Segments)
	}
}

func TestWindowSource(t *testing.T) {
	w := NewWindowSource(6, 4)
	ctx := context.Background()
	if r, err := w.Windows(ctx, gather.Request{URI: "u"}); err != nil || r.Prefix != "" || r.Suffix != "" {
		t.Fatalf("no text: %+v %v", r, err)
	}
	text := []byte("ab\ncdefgh\nij")
	r, _ := w.Windows(ctx, gather.Request{URI: "u", Text: text, Offset: 7})
	if r.Prefix != "cdef" || r.Suffix != "gh\n" {
		t.Fatalf("default budgets: %q %q", r.Prefix, r.Suffix)
	}
	r, _ = w.Windows(ctx, gather.Request{URI: "u", Text: text, Offset: 7, PrefixBudget: 100, SuffixBudget: 100})
	if r.Prefix != "ab\ncdef" || r.Suffix != "gh\nij" {
		t.Fatalf("the request's budgets: %q %q", r.Prefix, r.Suffix)
	}
	if r, _ := w.Windows(ctx, gather.Request{URI: "u", Text: []byte("x"), Offset: 99}); r.Prefix != "x" || r.Suffix != "" {
		t.Fatalf("clamped offset: %+v", r)
	}
	if rel, err := w.Related(ctx, gather.Request{URI: "u", Text: text, Offset: 7}); err != nil || rel.Declarations != nil || rel.ChangedSnippets != nil || rel.OpenedSnippets != nil {
		t.Fatalf("related context from a WindowSource: %+v %v", rel, err)
	}
}

// TestOneSetOfWindows: the windows the request carries are the ones the
// cache is keyed on, cut once with the budgets in characters. With
// multibyte text, windows cut in bytes would hold a third of the
// characters, and a cache keyed on wider character windows would miss
// after an edit the model never saw.
func TestOneSetOfWindows(t *testing.T) {
	srv := newTestServer(t, "x")
	g, err := gather.New(gather.Config{DisableGitDiff: true})
	if err != nil {
		t.Fatal(err)
	}
	const pb, sb = 200, 120
	stack := NewConfigStack(func(string) string { return "" })
	stack.Set(LayerFile, Config{Server: ServerConfig{Endpoint: srv.URL},
		Completion: CompletionConfig{Prompt: PromptConfig{MaxPrefixChars: pb, MaxSuffixChars: sb}}})
	a, err := New(Options{Config: stack, Context: g})
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	defer a.Close()

	var b strings.Builder
	b.WriteString("package m\n\nfunc f() int {\n")
	for i := range 60 {
		fmt.Fprintf(&b, "\tv%02d := \"日本語の説明%02d\"\n", i, i)
	}
	b.WriteString("\treturn \n")
	for i := range 60 {
		fmt.Fprintf(&b, "\tw%02d := \"中文注释%02d\"\n", i, i)
	}
	b.WriteString("}\n")
	doc := Document{URI: "file:///w/m.go", LanguageID: "go", Version: 1, Text: []byte(b.String())}
	a.DidOpen(doc)
	off := strings.Index(b.String(), "return ") + len("return ")
	ctx := context.Background()
	if _, err := a.Suggest(ctx, Request{Document: doc, Offset: off, Trigger: Invoked}); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	seg := srv.last.Segments
	srv.mu.Unlock()
	if srv.requests.Load() != 1 || seg == nil {
		t.Fatalf("%d requests, segments %+v", srv.requests.Load(), seg)
	}
	if n := utf8.RuneCountInString(seg.Prefix); n > pb || n < pb/2 || len(seg.Prefix) <= pb {
		t.Errorf("prefix window: %d characters, %d bytes; budget %d characters", n, len(seg.Prefix), pb)
	}
	if n := utf8.RuneCountInString(seg.Suffix); n > sb || n < sb/2 || len(seg.Suffix) <= sb {
		t.Errorf("suffix window: %d characters, %d bytes; budget %d characters", n, len(seg.Suffix), sb)
	}

	// The window starts at one of the v lines (after the function's
	// header). Editing the line before it, the same length so that the
	// rest keeps its offsets, leaves the windows as they were: the cache
	// answers. Editing a line inside the window asks the server again.
	first := -1
	for i := range 60 {
		if strings.Contains(seg.Prefix, fmt.Sprintf("\tv%02d := ", i)) {
			first = i
			break
		}
	}
	if first <= 0 {
		t.Fatalf("the prefix window starts at v%02d: %q", first, seg.Prefix)
	}
	editLine := func(base Document, line int, to string) Document {
		text := []byte(string(base.Text))
		i := strings.Index(string(text), fmt.Sprintf("説明%02d\"\n", line))
		copy(text[i:], to)
		d := base
		d.Version++
		d.Text = text
		a.DidChange(d, nil)
		return d
	}
	a.Suggest(ctx, Request{Document: doc, Offset: 3, Trigger: Invoked}) // elsewhere: no typed-ahead
	requests := srv.requests.Load()
	outside := editLine(doc, first-1, "解説")
	res, err := a.Suggest(ctx, Request{Document: outside, Offset: off, Trigger: Invoked})
	if err != nil || res.Source != "cache" || srv.requests.Load() != requests {
		t.Fatalf("edit before the windows: source %q, %d new requests (want the cache)", res.Source, srv.requests.Load()-requests)
	}
	a.Suggest(ctx, Request{Document: outside, Offset: 3, Trigger: Invoked})
	requests = srv.requests.Load()
	inside := editLine(outside, 59, "記述")
	if _, err = a.Suggest(ctx, Request{Document: inside, Offset: off, Trigger: Invoked}); err != nil || srv.requests.Load() != requests+1 {
		t.Fatalf("edit inside the prefix window: %d new requests, %v (want one)", srv.requests.Load()-requests, err)
	}
}

func TestFilePath(t *testing.T) {
	for uri, want := range map[string]string{
		"file:///home/u/a.go":         filepath.FromSlash("/home/u/a.go"),
		"file:///home/u/a%20b/c.go":   filepath.FromSlash("/home/u/a b/c.go"),
		"file:///C:/Users/u/a.go":     filepath.FromSlash("C:/Users/u/a.go"),
		"file:///c%3A/Users/u/a.go":   filepath.FromSlash("c:/Users/u/a.go"),
		"untitled:Untitled-1":         "",
		"https://example.com/a.go":    "",
		"file://":                     "",
		"file:///%zz":                 "",
		"":                            "",
		"file:///home/u/%E6%97%A5.go": filepath.FromSlash("/home/u/日.go"),
	} {
		if got := FilePath(uri); got != want {
			t.Errorf("FilePath(%q) = %q, want %q", uri, got, want)
		}
	}
}

// TestAcceptedIsShown: a candidate accepted without being reported shown
// (VS Code cycled to it with the toolbar's arrows) gets its view first, and
// the one shown before it is dismissed; one reported shown is not counted twice.
func TestAcceptedIsShown(t *testing.T) {
	srv := newTestServer(t, "x")
	a := newTestAgent(t, srv.URL, Config{})
	doc := Document{URI: "file:///tmp/x.go", LanguageID: "go", Version: 1, Text: []byte("package x\n")}
	a.DidOpen(doc)
	a.Shown(doc.URI, "cmpl-1", 0)
	a.Accepted(doc.URI, "cmpl-1", 2, false)
	a.Shown(doc.URI, "cmpl-2", 1)
	a.Accepted(doc.URI, "cmpl-2", 1, false)
	want := "view:0 dismiss:0 view:2 select:2 view:1 select:1"
	var got []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got = srv.eventsSoFar(); len(got) >= 6 {
			break
		}
	}
	if strings.Join(got, " ") != want {
		t.Fatalf("events %v, want %s", got, want)
	}
}
