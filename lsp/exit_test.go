package lsp

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/servalhq/serval/agent"
	"github.com/servalhq/serval/integration/testsupport/lspclient"
)

// windowsStdin is stdin as Windows (and Wine) has it: Close waits for the
// Read in progress, which ends only when the editor writes or closes its end
// of the pipe (Go's poll.FD on a synchronous pipe handle).
type windowsStdin struct {
	r       *io.PipeReader
	reading sync.Mutex
}

func (w *windowsStdin) Read(p []byte) (int, error) {
	w.reading.Lock()
	defer w.reading.Unlock()
	return w.r.Read(p)
}

func (w *windowsStdin) Close() error {
	w.reading.Lock()
	defer w.reading.Unlock()
	return w.r.Close()
}

// The agent ends on exit while the editor keeps its stdin open, on every
// platform: Run returns, and the process with it.
func TestExitWithStdinStillOpen(t *testing.T) {
	stack := agent.NewConfigStack(func(string) string { return "" })
	stack.Set(agent.LayerFile, agent.Config{Server: agent.ServerConfig{Endpoint: "http://127.0.0.1:1"}})
	a, err := agent.New(agent.Options{Config: stack})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := NewServer(a, Options{Version: "test"})
	cr, sw := io.Pipe()
	sr, cw := io.Pipe()
	stdin := &windowsStdin{r: sr}
	done := make(chan error, 1)
	go func() { done <- srv.Run(context.Background(), stdin, sw, stdin) }()
	client := lspclient.New(cr, cw, cw)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := client.Call(ctx, "initialize", map[string]any{"processId": 1, "capabilities": map[string]any{}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := client.Call(ctx, "shutdown", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := client.Notify(ctx, "exit", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after shutdown+exit: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the agent did not end on exit while its stdin stays open")
	}
	// The editor lets go of the pipe only now (the test's own cleanup).
	cw.Close()
	sw.Close()
}
