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
	// durations[i] is how long request i took to answer in full (0 while in flight); guarded by mu
	durations []time.Duration
	failed    int // requests the server could not be reached for; guarded by mu
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
	completion := r.Method == http.MethodPost && IsCompletionPath(r.URL.Path)
	c.mu.Lock()
	now := time.Now() // under the lock, so starts stays ascending
	i := len(c.starts)
	if completion {
		c.starts = append(c.starts, now)
		c.durations = append(c.durations, 0)
	}
	c.mu.Unlock()
	c.proxy.ServeHTTP(w, r)
	if completion && r.Context().Err() == nil {
		c.mu.Lock()
		c.durations[i] = time.Since(now)
		c.mu.Unlock()
	}
}

// ServerTimes returns how long the completion requests that started in
// [from, to) and were answered in full took, in milliseconds, ascending.
func (c *CountingProxy) ServerTimes(from, to time.Time) []float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	lo := sort.Search(len(c.starts), func(i int) bool { return !c.starts[i].Before(from) })
	hi := sort.Search(len(c.starts), func(i int) bool { return !c.starts[i].Before(to) })
	var out []float64
	for _, d := range c.durations[lo:hi] {
		if d > 0 {
			out = append(out, float64(d)/float64(time.Millisecond))
		}
	}
	sort.Float64s(out)
	return out
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
