package engines_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/server/api"
	"github.com/servalhq/serval/server/backend"
	"github.com/servalhq/serval/server/completion"
	"github.com/servalhq/serval/server/engine/pool"
	"github.com/servalhq/serval/server/httpapi"
	"github.com/servalhq/serval/server/openaiapi"
	"github.com/servalhq/serval/server/prompt"
	"github.com/servalhq/serval/server/store"
)

// faultyUpstream is an OpenAI-compatible server that lists the model and then
// misbehaves on every completion in the way its mode says.
func faultyUpstream(t *testing.T, mode string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/models" {
			fmt.Fprint(w, `{"data":[{"id":"m"}]}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		switch mode {
		case "garbage":
			fmt.Fprint(w, "data: {this is not json\n\n")
		case "closes mid-stream":
			fmt.Fprint(w, `data: {"choices":[{"text":"partial"}]}`+"\n\n")
			w.(http.Flusher).Flush()
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		case "hangs":
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}
	}))
	return srv
}

// The whole front (backend → pool → openai engine → completion service →
// HTTP API) in this process, so goroutines can be counted: whatever the
// upstream does, the request ends with an error status (or, for a client
// that gives up on a hanging upstream, is cancelled), and once the stack is
// closed no goroutine is left behind.
func TestUpstreamFaultsEndRequestsAndLeakNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, mode := range []string{"garbage", "closes mid-stream", "hangs"} {
		t.Run(mode, func(t *testing.T) {
			up := faultyUpstream(t, mode)
			st, err := store.Open(context.Background(), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			m, err := backend.Open(context.Background(), "--model",
				[]backend.Spec{{Kind: backend.OpenAI, BaseURL: up.URL + "/v1", Model: "m"}},
				backend.Options{Pool: pool.Config{CheckInterval: 100 * time.Millisecond, Backoff: 50 * time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := prompt.NewBuilder(prompt.Config{})
			svc, err := completion.New(completion.Config{Engine: m.Engine, Prompts: b})
			if err != nil {
				t.Fatal(err)
			}
			srv, err := httpapi.New(httpapi.Config{Service: svc, Store: st, Chat: m.Engine,
				Extra: []httpapi.Registrar{&openaiapi.Handler{Completion: m.Engine, CompletionModel: "m", Chat: m.Chat, ChatModel: "m"}}})
			if err != nil {
				t.Fatal(err)
			}
			front := httptest.NewServer(srv)
			client := &http.Client{Transport: &http.Transport{}}
			c, _ := api.NewClient(front.URL, "", client)

			timeout := 30 * time.Second
			if mode == "hangs" {
				timeout = 300 * time.Millisecond // the client gives up
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			_, err = c.Complete(ctx, completionRequest())
			cancel()
			switch {
			case mode == "hangs":
				if err == nil || !strings.Contains(err.Error(), "deadline") {
					t.Errorf("hanging upstream: %v", err)
				}
			case api.StatusCode(err) < 500:
				t.Errorf("%s: %v, want a 5xx", mode, err)
			}
			// The streamed OpenAI route ends with an error event (or status) too.
			ctx, cancel = context.WithTimeout(context.Background(), timeout)
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, front.URL+"/openai/v1/completions",
				strings.NewReader(`{"model":"m","prompt":"x","stream":true}`))
			if resp, err := client.Do(req); err == nil {
				body := new(strings.Builder)
				_, rerr := readEvents(resp.Body, func(data string) bool { body.WriteString(data); return true })
				resp.Body.Close()
				if mode != "hangs" && resp.StatusCode == http.StatusOK && !strings.Contains(body.String(), `"error"`) {
					t.Errorf("%s: streamed answer without an error: %q %v", mode, body, rerr)
				}
			}
			cancel()

			front.Close()
			client.CloseIdleConnections()
			m.Close()
			up.Close()
			st.Close()
		})
	}
	deadline := time.Now().Add(30 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d before, %d after closing everything\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
