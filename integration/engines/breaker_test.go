package engines_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/servalhq/serval/server/api"
	"github.com/servalhq/serval/server/completion"
	"github.com/servalhq/serval/server/engine/openai"
	"github.com/servalhq/serval/server/engine/pool"
	"github.com/servalhq/serval/server/httpapi"
	"github.com/servalhq/serval/server/prompt"
	"github.com/servalhq/serval/server/store"
)

// switchableUpstream is an OpenAI-compatible upstream whose behaviour the
// test changes as it goes: "ok", "hang" (completions and the health check
// never answer) or "500".
func switchableUpstream(t *testing.T) (*httptest.Server, *atomic.Value, *atomic.Int64) {
	var mode atomic.Value
	mode.Store("ok")
	var completions atomic.Int64
	released := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := mode.Load().(string)
		if m == "hang" {
			select {
			case <-r.Context().Done():
			case <-released:
			}
			return
		}
		if r.URL.Path == "/v1/models" {
			fmt.Fprint(w, `{"data":[{"id":"m"}]}`)
			return
		}
		completions.Add(1)
		if m == "500" {
			http.Error(w, `{"error":{"message":"upstream on fire"}}`, http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"choices\":[{\"text\":\" = 1\",\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(func() { close(released); up.Close() })
	return up, &mode, &completions
}

// An upstream that hangs is given up after the idle timeout (503), then
// the circuit is open: requests get 503 at once without touching it. Once
// it answers again, the half-open health check lets traffic back in. The
// same for an upstream answering 500s.
func TestBreakerOpensOnHangsAnd500sAndRecovers(t *testing.T) {
	up, mode, completions := switchableUpstream(t)
	// The circuit stays open for the whole backoff, and the test's three
	// requests must all meet it open: a backoff of 300 ms let the
	// half-open check close it in the middle of them on a loaded machine
	// (1 run in 20 under -race). The idle and check timeouts are long
	// enough that a healthy upstream is never taken for a hanging one.
	const backoff = 3 * time.Second
	eng, err := openai.New(openai.Config{BaseURL: up.URL + "/v1", Model: "m", IdleTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	p, err := pool.New(context.Background(), []pool.Member{eng},
		pool.Config{CheckInterval: 100 * time.Millisecond, CheckTimeout: 2 * time.Second, Backoff: backoff, MaxBackoff: backoff})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b, _ := prompt.NewBuilder(prompt.Config{})
	svc, err := completion.New(completion.Config{Engine: p, Prompts: b})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.New(httpapi.Config{Service: svc, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(srv)
	defer front.Close()
	c, _ := api.NewClient(front.URL, "", nil)
	complete := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := c.Complete(ctx, completionRequest())
		return err
	}
	recovers := func(what string) {
		t.Helper()
		mode.Store("ok")
		for deadline := time.Now().Add(60 * time.Second); complete() != nil; {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no recovery within 60 s of the upstream answering again", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := complete(); err != nil {
		t.Fatalf("healthy upstream: %v", err)
	}

	for _, fault := range []string{"hang", "500"} {
		mode.Store(fault)
		began := time.Now()
		err := complete()
		if code := api.StatusCode(err); code != 503 && code != 500 && code != 502 {
			t.Fatalf("%s: %v, want a 5xx", fault, err)
		}
		t.Logf("%s: first request ended after %v: %v", fault, time.Since(began).Round(time.Millisecond), err)
		// Open: the next requests are refused without reaching the upstream.
		before := completions.Load()
		for range 3 {
			if code := api.StatusCode(complete()); code != 503 {
				t.Errorf("%s: with the circuit open: %d, want 503", fault, code)
			}
		}
		if n := completions.Load() - before; n != 0 {
			t.Errorf("%s: the open circuit let %d requests reach the upstream", fault, n)
		}
		recovers(fault)
	}
}
