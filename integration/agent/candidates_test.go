package agent_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"go.lsp.dev/protocol"

	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/lsp"
	"github.com/servalhq/serval/server/api"
	"github.com/servalhq/serval/server/store"
)

// TestCandidatesAgainstRealServer: real serval on the generated model,
// real serval-agent over stdio. An explicit inline request gets several
// distinct candidates (the server evaluates the prompt once for them),
// and accepting the second records its choice index.
func TestCandidatesAgainstRealServer(t *testing.T) {
	srv := servaltest.Start(t, servaltest.Options{Args: []string{"--max-tokens", "24"}})

	// The API: n=3 gives the first candidate and the distinct others.
	client, err := api.NewClient(srv.URL, srv.Token, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.Complete(bounded(t, 60*time.Second), &api.CompletionRequest{
		Language: "python", N: 3, Segments: &api.Segments{Prefix: "def total(items):\n    ", Suffix: "\n"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Choices) < 2 || res.Choices[0].Index != 0 {
		t.Fatalf("n=3 answered %+v, want the first and at least one other candidate", res.Choices)
	}
	for i := 1; i < len(res.Choices); i++ {
		if c := res.Choices[i]; c.Index <= res.Choices[i-1].Index || c.Text == "" || c.Text == res.Choices[0].Text {
			t.Errorf("choice %d is %+v in %+v", i, c, res.Choices)
		}
	}

	a := startAgent(t, "SERVAL_ENDPOINT="+srv.URL, "SERVAL_TOKEN="+srv.Token)
	a.initialize(nil)
	a.waitStatus("ready", 30*time.Second)
	uri := "file://" + filepath.Join(t.TempDir(), "main.py")
	a.open(uri, "python", "import os\n\n\ndef total(items):\n    \n")
	// Random model weights: post-processing may leave fewer than two
	// candidates at a position; try a few.
	version := 1
	pos := protocol.Position{Line: 4, Character: 4}
	var items []lsp.InlineCompletionItem
	for attempt := 0; attempt < 8 && len(items) < 2; attempt++ {
		items = a.inline(uri, pos, 1).Items
		if len(items) >= 2 {
			break
		}
		version++
		a.insert(uri, version, pos, "x")
		pos.Character++
	}
	if len(items) < 2 {
		t.Fatalf("no explicit request got two candidates from the real server (last: %+v)", items)
	}
	for i := 1; i < len(items); i++ {
		if items[i].InsertText == items[0].InsertText {
			t.Errorf("items %d and 0 are the same: %q", i, items[0].InsertText)
		}
	}
	// The editor cycles to the second and the user accepts it.
	a.c.Notify(bounded(t, 5*time.Second), lsp.MethodDidShowCompletion, lsp.DidShowCompletionParams{Item: items[1]})
	cmd := items[1].Command
	if err := a.c.Call(bounded(t, 10*time.Second), "workspace/executeCommand", map[string]any{"command": cmd.Command, "arguments": cmd.Arguments}, nil); err != nil {
		t.Fatal(err)
	}
	var args lsp.AcceptArgs
	raw, _ := json.Marshal(cmd.Arguments[0])
	if err := json.Unmarshal(raw, &args); err != nil || args.ChoiceIndex == 0 {
		t.Fatalf("the second item's command carries %s, want its candidate's index", raw)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if selectedChoice(t, srv.DataDir, args.CompletionID) == args.ChoiceIndex {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no select event with choice_index %d for %s reached the server", args.ChoiceIndex, args.CompletionID)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// selectedChoice is the choice index of the select event stored for
// completion id, or -1.
func selectedChoice(t *testing.T, dataDir, id string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := store.Open(ctx, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events, err := st.Events(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.Type == api.EventSelect && e.CompletionID == id {
			return e.ChoiceIndex
		}
	}
	return -1
}
