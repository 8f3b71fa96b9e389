package agent_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.lsp.dev/protocol"

	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/lsp"
)

// completionCounter is a proxy in front of a real serval that counts the
// completion requests reaching it and the answers' statuses.
type completionCounter struct {
	mu         sync.Mutex
	requests   int
	byStatus   map[int]int
	retryAfter []string
}

func (c *completionCounter) snapshot() (int, map[int]int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[int]int{}
	for k, v := range c.byStatus {
		m[k] = v
	}
	return c.requests, m, append([]string(nil), c.retryAfter...)
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Flush() { http.NewResponseController(w.ResponseWriter).Flush() }

func countCompletions(t *testing.T, target string) (string, *completionCounter) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	forward := httputil.NewSingleHostReverseProxy(u)
	forward.FlushInterval = -1
	c := &completionCounter{byStatus: map[int]int{}}
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/completions" {
			forward.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		forward.ServeHTTP(sw, r)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.requests++
		c.byStatus[sw.code]++
		if ra := sw.Header().Get("Retry-After"); ra != "" {
			c.retryAfter = append(c.retryAfter, fmt.Sprintf("%d: %s", sw.code, ra))
		}
	}))
	t.Cleanup(p.Close)
	return p.URL, c
}

// The real agent against the real server that asks it to wait (429 with
// Retry-After, from the token's rate limit; an overloaded server's 503 with
// Retry-After takes the same path in the agent): the agent tells the editor
// once, sends nothing more until the wait is over, and still answers from
// its cache what it was answered before.
func TestAgentHonoursRetryAfter(t *testing.T) {
	// One request a minute after a burst of 4: health and a few
	// completions pass, the next is refused with Retry-After of about 60 s.
	srv := servaltest.Start(t, servaltest.Options{Args: []string{"--rate-limit", "1", "--rate-burst", "4", "--max-tokens", "16"}})
	endpoint, counter := countCompletions(t, srv.URL)
	a := startAgent(t, "SERVAL_ENDPOINT="+endpoint, "SERVAL_TOKEN="+srv.Token)
	a.initialize(map[string]any{"completion": map[string]any{"debounce": map[string]any{"mode": "fixed", "interval": 10}}})
	a.waitStatus("ready", 30*time.Second)

	const functions = 12
	var doc strings.Builder
	for i := range functions {
		fmt.Fprintf(&doc, "def total_%d(items):\n    result = \n\n", i)
	}
	uri := "file:///tmp/busy.py"
	a.open(uri, "python", doc.String())
	at := func(i int) protocol.Position { return protocol.Position{Line: uint32(3*i + 1), Character: 13} }

	// Ask at new places until the server refuses one.
	cached, cachedAt := [][]string(nil), -1
	refused := -1
	for i := 0; i < functions && refused < 0; i++ {
		items := itemTexts(a.inline(uri, at(i), 2))
		if a.statusCount("rateLimited") > 0 {
			refused = i
		} else if len(items) > 0 && cachedAt < 0 {
			cached, cachedAt = [][]string{items}, i
		}
	}
	if refused < 0 {
		n, codes, _ := counter.snapshot()
		t.Fatalf("no rateLimited status after %d places (%d requests reached the server: %v)", functions, n, codes)
	}
	if cachedAt < 0 {
		t.Fatal("no answered place before the refusal: nothing to find in the cache")
	}
	sent, codes, retry := counter.snapshot()
	if codes[http.StatusTooManyRequests] != 1 || len(retry) == 0 || !strings.HasPrefix(retry[len(retry)-1], "429: ") {
		t.Fatalf("the server's answers: %v, Retry-After %v; want one 429 with Retry-After", codes, retry)
	}

	// While it waits: new places get nothing and send nothing; the place
	// answered before is answered again from the cache.
	for i := refused + 1; i < functions; i++ {
		if items := itemTexts(a.inline(uri, at(i), 2)); len(items) != 0 {
			t.Errorf("place %d answered %q while the server asked to wait", i, items)
		}
	}
	if got := itemTexts(a.inline(uri, at(cachedAt), 2)); !reflect.DeepEqual([][]string{got}, cached) {
		t.Errorf("the cached place answered %q, before %q", got, cached[0])
	}
	if after, codes, _ := counter.snapshot(); after != sent {
		t.Errorf("%d completion requests reached the server while it asked to wait (%v)", after-sent, codes)
	}
	if n := a.statusCount("rateLimited"); n != 1 {
		t.Errorf("told the editor %d times, want once", n)
	}
}

func itemTexts(l lsp.InlineCompletionList) []string {
	var out []string
	for _, it := range l.Items {
		out = append(out, it.InsertText)
	}
	return out
}
