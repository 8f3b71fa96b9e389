package agent

import (
	"context"
	"strings"
	"testing"

	"github.com/servalhq/serval/server/api"
)

// TestCandidatesOnInvoke: typing asks for one candidate; an explicit
// request at the same place asks for three (not answered by the typing's
// cache or suggestion), and returns the distinct ones that survive
// post-processing, each with its server index.
func TestCandidatesOnInvoke(t *testing.T) {
	srv := newTestServer(t, "")
	srv.choices = func(req api.CompletionRequest) []api.Choice {
		if req.N == 0 {
			return []api.Choice{{Index: 0, Text: "Println(x)"}}
		}
		return []api.Choice{
			{Index: 0, Text: "Println(x)"},
			{Index: 1, Text: "Println(x)   \n"}, // the same once post-processed
			{Index: 2, Text: "\n\n"},            // nothing
			{Index: 3, Text: "Printf(\"%v\", x)"},
		}
	}
	a := newTestAgent(t, srv.URL, Config{})
	doc := Document{URI: "file:///tmp/x.go", LanguageID: "go", Version: 1, Text: []byte("package x\n\nfunc f() {\n\tfmt.\n}\n")}
	a.DidOpen(doc)
	off := strings.Index(string(doc.Text), "fmt.") + 4
	ctx := context.Background()

	res, err := a.Suggest(ctx, Request{Document: doc, Offset: off, Trigger: Automatic})
	if err != nil || len(res.Items) != 1 || srv.last.N != 0 {
		t.Fatalf("typing: %+v %v (n=%d)", res, err, srv.last.N)
	}
	res, err = a.Suggest(ctx, Request{Document: doc, Offset: off, Trigger: Invoked, Candidates: InvokedCandidates})
	if err != nil || res.Source != "server" || srv.last.N != InvokedCandidates {
		t.Fatalf("invoked: %+v %v (n=%d, %d requests)", res, err, srv.last.N, srv.requests.Load())
	}
	var got []string
	for _, it := range res.Items {
		got = append(got, it.Text+"#"+string(rune('0'+it.Choice)))
	}
	if want := []string{"Println(x)#0", "Printf(\"%v\", x)#3"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("items %q, want %q", got, want)
	}
	// Cycling again at the same place: the candidates, from the agent.
	n := srv.requests.Load()
	res, _ = a.Suggest(ctx, Request{Document: doc, Offset: off, Trigger: Invoked, Candidates: InvokedCandidates})
	if len(res.Items) != 2 || srv.requests.Load() != n {
		t.Errorf("invoked again: %+v after %d more requests", res, srv.requests.Load()-n)
	}

	// A server that answers one choice (Tabby, an older Serval): one item.
	srv.choices = nil
	srv.text = "Sprint(x)"
	doc2 := Document{URI: "file:///tmp/y.go", LanguageID: "go", Version: 1, Text: doc.Text}
	a.DidOpen(doc2)
	res, err = a.Suggest(ctx, Request{Document: doc2, Offset: off, Trigger: Invoked, Candidates: InvokedCandidates})
	if err != nil || len(res.Items) != 1 || res.Items[0].Text != "Sprint(x)" {
		t.Errorf("one-choice server: %+v %v", res, err)
	}
}
