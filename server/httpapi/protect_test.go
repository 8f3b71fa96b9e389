package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/servalhq/serval/server/api"
	"github.com/servalhq/serval/server/auth"
	"github.com/servalhq/serval/server/completion"
	"github.com/servalhq/serval/server/completion/completiontest"
	"github.com/servalhq/serval/server/prompt"
	"github.com/servalhq/serval/server/store"
)

// countingListener counts the connections the server holds open.
type countingListener struct {
	net.Listener
	open atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.open.Add(1)
	return &countedConn{Conn: c, l: l}, nil
}

type countedConn struct {
	net.Conn
	once sync.Once
	l    *countingListener
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

// servedOnLoopback runs a Server through Serve (the real http.Server
// settings) on a loopback port and returns its address, the listener's
// count of open connections and a valid token.
func servedOnLoopback(t *testing.T, extra ...Registrar) (string, *countingListener, string) {
	t.Helper()
	l := serveLoopback(t, &completiontest.Engine{Deltas: []string{"a"}}, time.Second, func(c *Config) { c.Extra = extra })
	t.Cleanup(func() {
		if err := l.stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return l.addr, l.conns, l.token
}

type loopbackServer struct {
	addr  string
	conns *countingListener
	token string
	// stop cancels Serve's context (as SIGTERM does) and returns what
	// Serve returned.
	stop     func() error
	stopOnce sync.Once
}

func serveLoopback(t *testing.T, eng *completiontest.Engine, grace time.Duration, configure func(*Config)) *loopbackServer {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	token, err := st.CreateToken(context.Background(), "tester")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := prompt.NewBuilder(prompt.Config{})
	svc, err := completion.New(completion.Config{Engine: eng, Prompts: b})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Service: svc, Store: st, BodyTimeout: 300 * time.Millisecond,
		Auth: auth.New(auth.Config{Lookup: auth.StoreLookup(st)})}
	if configure != nil {
		configure(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, cl, grace) }()
	l := &loopbackServer{addr: ln.Addr().String(), conns: cl, token: token}
	var served error
	l.stop = func() error {
		l.stopOnce.Do(func() {
			cancel()
			select {
			case served = <-done:
			case <-time.After(30 * time.Second):
				served = fmt.Errorf("Serve did not return within 30 s of its context ending")
			}
		})
		return served
	}
	t.Cleanup(func() { l.stop() })
	return l
}

// slowClient sends headers announcing a body, then only the body's first
// byte, and returns the status line and headers it gets back and whether
// the server then closed the connection.
func slowClient(addr, authHeader string) (status string, header http.Header, closed bool, err error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", nil, false, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", authHeader)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return "", nil, false, fmt.Errorf("no answer while the body is pending: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Close { // "Connection: close", which ReadResponse takes out of the header
		resp.Header.Set("Connection", "close")
	}
	_, err = br.ReadByte()
	return resp.Status, resp.Header, err == io.EOF, nil
}

// Slow and unauthenticated clients cannot hold the server: a client that
// never sends its body gets its 401 at once (the server does not wait for
// the body), an authenticated one a 408 after the body timeout, each with
// Connection: close, and every connection is released.
func TestSlowClientsAreCutOffAndReleased(t *testing.T) {
	addr, conns, token := servedOnLoopback(t)
	const unauthenticated, authenticated = 50, 5
	type result struct {
		status string
		header http.Header
		closed bool
		err    error
	}
	results := make(chan result, unauthenticated+authenticated)
	var wg sync.WaitGroup
	for i := range unauthenticated + authenticated {
		auth := ""
		if i >= unauthenticated {
			auth = "Authorization: Bearer " + token + "\r\n"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, h, closed, err := slowClient(addr, auth)
			results <- result{st, h, closed, err}
		}()
	}
	wg.Wait()
	close(results)
	byStatus := map[string]int{}
	for r := range results {
		if r.err != nil {
			t.Error(r.err)
			continue
		}
		byStatus[r.status]++
		if r.header.Get("Connection") != "close" || !r.closed {
			t.Errorf("%s: Connection %q, closed by the server %v; want the connection closed", r.status, r.header.Get("Connection"), r.closed)
		}
	}
	if byStatus["401 Unauthorized"] != unauthenticated || byStatus["408 Request Timeout"] != authenticated {
		t.Errorf("statuses %v, want %d × 401 and %d × 408", byStatus, unauthenticated, authenticated)
	}
	for i := 0; conns.open.Load() != 0; i++ {
		if i == 500 {
			t.Fatalf("%d connections still held after every client was answered", conns.open.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A body that arrives in time is served, and its read deadline does not
// cut a response that streams for longer than the body timeout.
func TestBodyDeadlineDoesNotCutLongResponses(t *testing.T) {
	release := make(chan struct{})
	addr, _, token := servedOnLoopback(t, registrarFunc(func(mux *http.ServeMux, wrap func(http.Handler) http.Handler) {
		mux.Handle("POST /slow", wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			select {
			case <-release:
			case <-r.Context().Done():
				return // cut: the client sees no body
			}
			io.WriteString(w, "done")
		})))
	}))
	time.AfterFunc(time.Second, func() { close(release) }) // > 3 × the 300 ms body timeout
	req, _ := http.NewRequest("POST", "http://"+addr+"/slow", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "done" {
		t.Errorf("long response: %d %q", resp.StatusCode, body)
	}
}

type registrarFunc func(mux *http.ServeMux, wrap func(http.Handler) http.Handler)

func (f registrarFunc) Register(mux *http.ServeMux, wrap func(http.Handler) http.Handler) {
	f(mux, wrap)
}

// Streamed routes mounted behind the metrics and auth wrappers reach the
// client event by event: each event arrives before the next is produced,
// whether the handler flushes through w.(http.Flusher) or through
// http.ResponseController.
func TestStreamedEventsArriveOneByOne(t *testing.T) {
	acks := make(chan int)
	addr, _, token := servedOnLoopback(t, registrarFunc(func(mux *http.ServeMux, wrap func(http.Handler) http.Handler) {
		mux.Handle("POST /events", wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f, ok := w.(http.Flusher)
			if !ok {
				http.Error(w, "the response writer cannot flush", http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 4 {
				fmt.Fprintf(w, "data: %d\n\n", i)
				if i%2 == 0 {
					f.Flush()
				} else if err := http.NewResponseController(w).Flush(); err != nil {
					return
				}
				select { // the next event is produced only once this one arrived
				case got := <-acks:
					if got != i {
						return
					}
				case <-time.After(10 * time.Second):
					return
				}
			}
		})))
	}))
	req, _ := http.NewRequest("POST", "http://"+addr+"/events", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	sc := bufio.NewScanner(resp.Body)
	for i := range 4 {
		var line string
		for line == "" && sc.Scan() {
			line = sc.Text()
		}
		if line != fmt.Sprintf("data: %d", i) {
			t.Fatalf("event %d: got %q (%v)", i, line, sc.Err())
		}
		acks <- i
	}
}

// Without auth, the server answers only what cannot come from a web page:
// loopback Host, no foreign Origin, JSON bodies.
func TestNoAuthRefusesBrowserPages(t *testing.T) {
	f := newFixture(t, &completiontest.Engine{Deltas: []string{"a"}}, fixtureOptions{noAuth: true})
	port := f.srv.URL[strings.LastIndex(f.srv.URL, ":"):]
	body := `{"segments":{"prefix":"x"}}`
	tests := []struct {
		name        string
		host        string
		origin      string
		fetchSite   string
		contentType string
		want        int
	}{
		{"plain client", "", "", "", "application/json", 200},
		{"localhost name", "localhost" + port, "", "", "application/json; charset=utf-8", 200},
		{"ipv6 loopback", "[::1]" + port, "", "", "application/json", 200},
		{"page on loopback", "", "http://127.0.0.1" + port, "same-origin", "application/json", 200},
		{"rebound DNS name", "attacker.example" + port, "", "", "application/json", 403},
		{"foreign origin", "", "https://attacker.example", "", "application/json", 403},
		{"null origin", "", "null", "", "application/json", 403},
		{"cross-site fetch", "", "", "cross-site", "application/json", 403},
		{"text/plain form", "", "", "", "text/plain", 415},
		{"no content type", "", "", "", "", 415},
		{"urlencoded form", "", "", "", "application/x-www-form-urlencoded", 415},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("POST", f.srv.URL+"/v1/completions", strings.NewReader(body))
		if tt.host != "" {
			req.Host = tt.host
		}
		if tt.origin != "" {
			req.Header.Set("Origin", tt.origin)
		}
		if tt.fetchSite != "" {
			req.Header.Set("Sec-Fetch-Site", tt.fetchSite)
		}
		if tt.contentType != "" {
			req.Header.Set("Content-Type", tt.contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: status %d %s, want %d", tt.name, resp.StatusCode, b, tt.want)
		}
		if tt.want == 200 && !strings.Contains(string(b), `"choices"`) {
			t.Errorf("%s: no completion: %s", tt.name, b)
		}
	}
	// With auth on, tokens decide; the browser checks do not apply.
	fa := newFixture(t, &completiontest.Engine{Deltas: []string{"a"}}, fixtureOptions{})
	c, _ := api.NewClient(fa.srv.URL, fa.token, nil)
	if _, err := c.Complete(context.Background(), &api.CompletionRequest{Segments: &api.Segments{Prefix: "x"}}); err != nil {
		t.Fatal(err)
	}
}

// Every /v1/events field is bounded: nothing large or unprintable is stored.
func TestEventFieldsBounded(t *testing.T) {
	f := newFixture(t, &completiontest.Engine{Deltas: []string{"a"}}, fixtureOptions{})
	big := strings.Repeat("x", 900<<10)
	for body, want := range map[string]string{
		`{"type":"view","completion_id":"` + big + `"}`:                          "completion_id: 921600 bytes",
		`{"type":"view","completion_id":"c","view_id":"` + big[:200] + `"}`:      "view_id: 200 bytes",
		`{"type":"view","completion_id":"c","language":"\u001b[31mgo"}`:          "language: only printable",
		`{"type":"select","completion_id":"c","select_kind":"` + big[:40] + `"}`: "select_kind: 40 bytes",
		`{"type":"view","completion_id":"c","choice_index":-1}`:                  "choice_index: -1",
		`{"type":"view","completion_id":"c","choice_index":2147483647}`:          "choice_index: 2147483647",
		`{"type":"view","completion_id":"c","elapsed":-5}`:                       "elapsed: -5 ms",
		`{"type":"view","completion_id":"c","elapsed":9223372036854775807}`:      "elapsed: 9223372036854775807 ms",
	} {
		resp, got := f.post(t, "/v1/events", body)
		if resp.StatusCode != 400 || !strings.Contains(errorMessage(t, got), want) {
			t.Errorf("%.80s: %d %s, want 400 %q", body, resp.StatusCode, got, want)
		}
	}
	if resp, _ := f.post(t, "/v1/events?select_kind="+big[:100], `{"type":"select","completion_id":"c"}`); resp.StatusCode != 400 {
		t.Errorf("select_kind in the query: %d", resp.StatusCode)
	}
	if events, err := f.store.Events(context.Background(), 10); err != nil || len(events) != 0 {
		t.Errorf("%d events stored, %v", len(events), err)
	}
}

func completionPost(t *testing.T, addr, token, body string) (*http.Response, string, error) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+addr+"/v1/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b), nil
}

// A request whose client waits longer than the request deadline ends, and
// so does the engine's work for it.
func TestRequestDeadlineEndsWork(t *testing.T) {
	eng := &completiontest.Engine{Deltas: []string{"a", "b"}, Hold: make(chan struct{})} // never released
	l := serveLoopback(t, eng, time.Second, func(c *Config) { c.RequestTimeout = 300 * time.Millisecond })
	resp, body, err := completionPost(t, l.addr, l.token, `{"segments":{"prefix":"x"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode < 400 {
		t.Errorf("past the deadline: %d %s, want an error status", resp.StatusCode, body)
	}
	if !eng.WaitIdle(1, 10*time.Second) {
		t.Fatal("the engine still works for a request past its deadline")
	}
}

// On shutdown (SIGTERM cancels Serve's context) a request in flight
// finishes within the grace period, new connections are refused, and
// Serve returns nil.
func TestShutdownLetsRequestsFinish(t *testing.T) {
	hold := make(chan struct{})
	eng := &completiontest.Engine{Deltas: []string{"fin", "ished"}, Hold: hold}
	l := serveLoopback(t, eng, 20*time.Second, nil)
	type answer struct {
		code int
		body string
		err  error
	}
	answers := make(chan answer, 1)
	go func() {
		resp, body, err := completionPost(t, l.addr, l.token, `{"segments":{"prefix":"x"}}`)
		a := answer{body: body, err: err}
		if resp != nil {
			a.code = resp.StatusCode
		}
		answers <- a
	}()
	for i := 0; eng.InFlight() == 0; i++ {
		if i == 1000 {
			t.Fatal("the request never reached the engine")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- l.stop() }()
	// New connections are refused once shutdown began.
	refused := false
	for range 400 {
		c, err := net.DialTimeout("tcp", l.addr, time.Second)
		if err != nil {
			refused = true
			break
		}
		c.Close()
		time.Sleep(5 * time.Millisecond)
	}
	if !refused {
		t.Error("new connections still accepted during shutdown")
	}
	close(hold) // the generation goes on to its end
	a := <-answers
	if a.err != nil || a.code != 200 || !strings.Contains(a.body, "finished") {
		t.Errorf("request in flight at shutdown: %d %q %v, want 200 with the whole text", a.code, a.body, a.err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Serve: %v, want nil after a clean drain", err)
	}
}

// Past the grace period, what still runs is cut and Serve says so.
func TestShutdownCutsRequestsPastGrace(t *testing.T) {
	eng := &completiontest.Engine{Deltas: []string{"a", "b"}, Hold: make(chan struct{})} // never released
	l := serveLoopback(t, eng, 200*time.Millisecond, nil)
	go completionPost(t, l.addr, l.token, `{"segments":{"prefix":"x"}}`)
	for i := 0; eng.InFlight() == 0; i++ {
		if i == 1000 {
			t.Fatal("the request never reached the engine")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := l.stop(); err == nil {
		t.Error("Serve returned nil although a request had to be cut")
	}
	if !eng.WaitIdle(1, 10*time.Second) {
		t.Fatal("the engine still works after shutdown")
	}
}
