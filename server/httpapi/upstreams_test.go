package httpapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/servalhq/serval/server/api"
	"github.com/servalhq/serval/server/completion"
	"github.com/servalhq/serval/server/completion/completiontest"
	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/prompt"
	"github.com/servalhq/serval/server/store"
)

// pooledEngine reports fixed upstream states, as a pool does.
type pooledEngine struct {
	completiontest.Engine
	model, device string
	upstreams     []engine.UpstreamInfo
}

func (p *pooledEngine) Info() engine.Info {
	return engine.Info{Model: p.model, Device: p.device, Upstreams: p.upstreams}
}

func TestHealthAndMetricsShowUpstreamsAndChat(t *testing.T) {
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	completionEng := &pooledEngine{model: "coder", device: "remote", upstreams: []engine.UpstreamInfo{
		{Name: "openai:a:1#coder", URL: "http://a:1/v1", Healthy: true, InFlight: 2},
		{Name: "openai:b:1#coder", URL: "http://b:1/v1", Healthy: false, LastError: "connection refused"},
	}}
	chatEng := &pooledEngine{model: "chatter", device: "remote", upstreams: []engine.UpstreamInfo{
		{Name: "ollama:c:11434/chatter", Healthy: true},
	}}
	b, err := prompt.NewBuilder(prompt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := completion.New(completion.Config{Engine: completionEng, Prompts: b})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Service: svc, Store: st, Chat: chatEng})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	c, err := api.NewClient(hs.URL, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := c.Health(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if h.ChatModel != "chatter" || h.ChatDevice != "remote" || h.Models.Chat != "chatter" || h.Models.Completion != "coder" {
		t.Errorf("chat in health: %+v %+v", h, h.Models)
	}
	want := []api.UpstreamState{
		{Name: "openai:a:1#coder", URL: "http://a:1/v1", Role: "completion", Healthy: true, InFlight: 2},
		{Name: "openai:b:1#coder", URL: "http://b:1/v1", Role: "completion", LastError: "connection refused"},
		{Name: "ollama:c:11434/chatter", Role: "chat", Healthy: true},
	}
	if len(h.Upstreams) != len(want) {
		t.Fatalf("upstreams %+v", h.Upstreams)
	}
	for i := range want {
		if h.Upstreams[i] != want[i] {
			t.Errorf("upstream %d = %+v, want %+v", i, h.Upstreams[i], want[i])
		}
	}

	resp, err := http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range []string{
		`serval_upstream_healthy{role="completion",upstream="openai:a:1#coder"} 1`,
		`serval_upstream_healthy{role="completion",upstream="openai:b:1#coder"} 0`,
		`serval_upstream_in_flight{role="completion",upstream="openai:a:1#coder"} 2`,
		`serval_upstream_healthy{role="chat",upstream="ollama:c:11434/chatter"} 1`,
	} {
		if !strings.Contains(string(body), line+"\n") {
			t.Errorf("/metrics lacks %s", line)
		}
	}
}
