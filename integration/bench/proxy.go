package bench

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// CountingProxy sits between the agents and the server and remembers when
// each completion request started, so the bench can count server requests
// per keystroke and tell answers the agent had cached from answers it
// fetched, for any agent, without trusting the agent's own numbers.
type CountingProxy struct {
	proxy *httputil.ReverseProxy

	mu     sync.Mutex
	starts []time.Time // completion request start times, ascending; guarded by mu
	other  int         // requests to other paths; guarded by mu
	failed int         // requests the server could not be reached for; guarded by mu
}

// NewCountingProxy forwards to upstream (the server's base URL).
func NewCountingProxy(upstream *url.URL) *CountingProxy {
	p := httputil.NewSingleHostReverseProxy(upstream)
	p.FlushInterval = -1 // pass server-sent events through as they come
	c := &CountingProxy{proxy: p}
	p.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if r.Context().Err() != nil {
			return // the agent gave up on the request (cancelled): nothing to answer
		}
		c.mu.Lock()
		c.failed++
		c.mu.Unlock()
		w.WriteHeader(http.StatusBadGateway)
	}
	return c
}

// IsCompletionPath reports whether a request path asks for a completion.
func IsCompletionPath(path string) bool {
	return strings.HasSuffix(strings.TrimRight(path, "/"), "/completions")
}

func (c *CountingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	c.mu.Lock()
	if r.Method == http.MethodPost && IsCompletionPath(r.URL.Path) {
		c.starts = append(c.starts, now)
	} else {
		c.other++
	}
	c.mu.Unlock()
	c.proxy.ServeHTTP(w, r)
}

// Completions counts the completion requests that started in [from, to).
func (c *CountingProxy) Completions(from, to time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	lo := sort.Search(len(c.starts), func(i int) bool { return !c.starts[i].Before(from) })
	hi := sort.Search(len(c.starts), func(i int) bool { return !c.starts[i].Before(to) })
	return hi - lo
}

// Failed counts requests the proxy could not forward (server unreachable).
func (c *CountingProxy) Failed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed
}
