package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestCountingProxy(t *testing.T) {
	release := make(chan struct{})
	held := make(chan struct{}, 1) // a held request reached the upstream
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/completions" && r.Header.Get("X-Hold") != "" {
			select {
			case held <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer upstream.Close()
	defer close(release)
	u, _ := url.Parse(upstream.URL)
	p := NewCountingProxy(u)
	front := httptest.NewServer(p)
	defer front.Close()

	start := time.Now()
	post := func(ctx context.Context, path string, hold bool) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, front.URL+path, strings.NewReader("{}"))
		if hold {
			req.Header.Set("X-Hold", "1")
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	for range 2 {
		if err := post(context.Background(), "/v1/completions", false); err != nil {
			t.Fatal(err)
		}
	}
	if err := post(context.Background(), "/v1/health", false); err != nil {
		t.Fatal(err)
	}
	// A request the client gives up on counts as made, but has no server time.
	// The client gives up once the request is through the proxy (a 50 ms
	// client timeout could end it before it got there on a loaded machine).
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() { gaveUp <- post(ctx, "/v1/completions", true) }()
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("the held request never reached the upstream")
	}
	cancel()
	<-gaveUp

	end := time.Now().Add(time.Second)
	if n := p.Completions(start, end); n != 3 {
		t.Errorf("%d completions counted, want 3 (health is not one)", n)
	}
	if n := p.Completions(end, end.Add(time.Hour)); n != 0 {
		t.Errorf("%d completions after the window", n)
	}
	// The cancelled request's handler may still be unwinding: wait, bounded.
	deadline := time.Now().Add(5 * time.Second)
	for {
		times := p.ServerTimes(start, end)
		if len(times) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server times %v, want the 2 answered requests", times)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if p.Failed() != 0 {
		t.Errorf("%d failed", p.Failed())
	}
}

func TestCountingProxyUpstreamDown(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:1") // nothing listens on port 1
	p := NewCountingProxy(u)
	front := httptest.NewServer(p)
	defer front.Close()
	resp, err := http.Post(front.URL+"/v1/completions", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || p.Failed() != 1 {
		t.Fatalf("status %d, failed %d; want 502 and 1", resp.StatusCode, p.Failed())
	}
}
