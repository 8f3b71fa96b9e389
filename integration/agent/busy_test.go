package agent_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"strconv"
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
	// transport carries the proxy's connections to serval.
	transport *http.Transport

	mu         sync.Mutex
	requests   int
	byStatus   map[int]int
	retryAfter []string
}

// waitRecorded waits until what the proxy recorded satisfies done (at most
// 5 s): the proxy records a request after its answer went out, so the agent
// can have the answer first.
func (c *completionCounter) waitRecorded(done func(requests int, byStatus map[int]int) bool) {
	for range 500 {
		if n, codes, _ := c.snapshot(); done(n, codes) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
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

// countCompletions starts the proxy in front of target; its connections to
// target come from the loopback address from.
func countCompletions(t *testing.T, target, from string) (string, *completionCounter) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	transport := &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 4}
	t.Cleanup(transport.CloseIdleConnections)
	forward := httputil.NewSingleHostReverseProxy(u)
	forward.Transport = transport
	forward.FlushInterval = -1
	c := &completionCounter{transport: transport, byStatus: map[int]int{}}
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

// placesToAsk starts the real agent against endpoint (srv's token, a
// fixed 10 ms debounce), waits until it is ready and opens a Python
// document of n functions; at(i) is a new place to ask in function i.
func placesToAsk(t *testing.T, srv *servaltest.Server, endpoint string, n int) (*agentSession, string, func(int) protocol.Position) {
	t.Helper()
	a := startAgent(t, "SERVAL_ENDPOINT="+endpoint, "SERVAL_TOKEN="+srv.Token)
	a.initialize(map[string]any{"completion": map[string]any{"debounce": map[string]any{"mode": "fixed", "interval": 10}}})
	a.waitStatus("ready", 30*time.Second)
	var doc strings.Builder
	for i := range n {
		fmt.Fprintf(&doc, "def total_%d(items):\n    result = \n\n", i)
	}
	uri := "file:///tmp/busy.py"
	a.open(uri, "python", doc.String())
	return a, uri, func(i int) protocol.Position { return protocol.Position{Line: uint32(3*i + 1), Character: 13} }
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
	endpoint, counter := countCompletions(t, srv.URL, "127.0.0.1")
	const functions = 12
	a, uri, at := placesToAsk(t, srv, endpoint, functions)

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
	counter.waitRecorded(func(_ int, codes map[int]int) bool { return codes[http.StatusTooManyRequests] >= 1 })
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

// The real agent against the real server that turns its connections away
// with 503 and Retry-After (--max-conns-per-address, the limit the proxy's
// address has filled): the agent tells the editor once that the server is
// busy, sends nothing until the wait it was given is over, answers what it
// was answered before from its cache, and asks again after the wait.
func TestAgentHonoursServerBusy(t *testing.T) {
	const perAddress = 2
	srv := servaltest.Start(t, servaltest.Options{Args: []string{
		"--max-conns-per-address", strconv.Itoa(perAddress), "--limit-loopback", "--max-tokens", "16"}})
	// The proxy reaches serval from an address of its own, so that only
	// the connections this test holds count against its limit.
	const from = "127.0.0.3"
	endpoint, counter := countCompletions(t, srv.URL, from)
	const functions = 60
	a, uri, at := placesToAsk(t, srv, endpoint, functions)
	next := 0
	var cached []string
	for ; next < 4 && len(cached) == 0; next++ {
		cached = itemTexts(a.inline(uri, at(next), 2))
	}
	if len(cached) == 0 {
		t.Fatalf("no suggestion at %d places before the server was busy", next)
	}
	cachedAt := next - 1

	release := holdConnections(t, strings.TrimPrefix(srv.URL, "http://"), from, perAddress, counter.transport)
	defer release()
	refusedAt := time.Now()
	if items := itemTexts(a.inline(uri, at(next), 2)); len(items) != 0 {
		t.Fatalf("answered %q while every connection was refused", items)
	}
	next++
	counter.waitRecorded(func(_ int, codes map[int]int) bool { return codes[http.StatusServiceUnavailable] >= 1 })
	sent, codes, retry := counter.snapshot()
	if codes[http.StatusServiceUnavailable] != 1 || codes[http.StatusOK]+1 != sent || len(retry) != 1 || retry[0] != "503: 5" {
		t.Fatalf("the server's answers to the agent: %d requests, %v, Retry-After %v; want 200s, then one 503 with Retry-After 5", sent, codes, retry)
	}
	st := a.waitStatus("rateLimited", 10*time.Second)
	if !strings.Contains(st.Message, "busy") {
		t.Errorf("the busy status says %q", st.Message)
	}

	// While it waits: new places get nothing and send nothing; the place
	// answered before is answered again, from the cache.
	for range 4 {
		if items := itemTexts(a.inline(uri, at(next), 2)); len(items) != 0 {
			t.Errorf("place %d answered %q while the server asked to wait", next, items)
		}
		next++
	}
	if got := itemTexts(a.inline(uri, at(cachedAt), 2)); !reflect.DeepEqual(got, cached) {
		t.Errorf("the cached place answered %q, before %q", got, cached)
	}
	// The wait is 5 s; on a machine so slow that the checks above took
	// most of it, a request after it would be right, so only count before.
	if waited := time.Since(refusedAt); waited < 4*time.Second {
		if after, codes, _ := counter.snapshot(); after != sent {
			t.Errorf("%d completion requests reached the server while it asked to wait (%v)", after-sent, codes)
		}
	} else {
		t.Logf("the checks took %v of the 5 s wait: requests during it not counted", waited)
	}
	release()

	// After the wait the agent asks again, at places never asked before,
	// and is answered (bounded: 15 s and the document's places).
	deadline := time.Now().Add(15 * time.Second)
	var items []string
	for ; len(items) == 0 && next < functions && time.Now().Before(deadline); next++ {
		time.Sleep(250 * time.Millisecond)
		items = itemTexts(a.inline(uri, at(next), 2))
	}
	if len(items) == 0 {
		n, codes, _ := counter.snapshot()
		t.Fatalf("no suggestion in 15 s after the server had room again (%d requests: %v)", n, codes)
	}
	if waited := time.Since(refusedAt); waited < 5*time.Second {
		t.Errorf("answered again %v after the 503, before its Retry-After of 5 s", waited)
	}
	if n := a.statusCount("rateLimited"); n != 1 {
		t.Errorf("told the editor %d times that the server is busy, want once", n)
	}
	a.waitStatus("ready", 10*time.Second)
}

// holdConnections fills the connections serval lets the address from hold
// (perAddress), and returns what lets them go. Each is a keep-alive
// connection that has been answered, so the server counts it; only when all
// of them were answered (the proxy's own connections, closed through
// transport, are gone from the server's count) and one more is turned away
// with 503 is the address full (bounded: 50 tries, each within seconds).
func holdConnections(t *testing.T, addr, from string, perAddress int, transport *http.Transport) (release func()) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	var held []net.Conn
	release = func() {
		for _, c := range held {
			c.Close()
		}
		held = nil
	}
	// status sends GET /login on c and reads the answer whole, leaving c
	// open unless closing.
	status := func(c net.Conn, closing bool) int {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		defer c.SetDeadline(time.Time{})
		req := "GET /login HTTP/1.1\r\nHost: " + addr + "\r\n"
		if closing {
			req += "Connection: close\r\n"
		}
		if _, err := io.WriteString(c, req+"\r\n"); err != nil {
			return 0
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	dial := func() net.Conn {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			release()
			t.Fatal(err)
		}
		return c
	}
	for range 50 {
		transport.CloseIdleConnections()
		full := true
		for range perAddress {
			c := dial()
			held = append(held, c)
			if code := status(c, false); code == 0 || code == http.StatusServiceUnavailable {
				full = false // still counted: a connection of the proxy's not yet closed
				break
			}
		}
		if full {
			probe := dial()
			code := status(probe, true)
			probe.Close()
			if code == http.StatusServiceUnavailable {
				return release
			}
		}
		release()
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("could not fill the %d connections of %s", perAddress, from)
	return nil
}
