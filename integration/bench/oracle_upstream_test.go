package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/servalhq/serval/integration/bench"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/server/api"
)

// With Upstream, the Oracle answers only after the real server did (the
// request reaches serval: its completions counter moves), with the oracle's
// text, not the model's; serval's refusals pass through as they are.
func TestOracleTimedByRealServer(t *testing.T) {
	srv := servaltest.Start(t, servaltest.Options{})
	file := "package p\n\nfunc f() int {\n\tx := 1\n\treturn x\n}\n"
	start, end := strings.Index(file, "\tx"), strings.Index(file, "}\n")
	o := bench.NewOracle([]bench.Trace{{Text: file[:start] + file[end:], Offset: start, Typed: file[start:end]}}, "tok", 0)
	up, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	o.Upstream, o.UpstreamToken = up, srv.Token
	hs := httptest.NewServer(o)
	defer hs.Close()

	complete := func() (int, http.Header, []byte) {
		t.Helper()
		body, _ := json.Marshal(api.CompletionRequest{Language: "go", Segments: &api.Segments{Prefix: file[:strings.Index(file, "x := 1")+2], Suffix: "}\n"}})
		req, _ := http.NewRequest(http.MethodPost, hs.URL+"/v1/completions", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, resp.Header, b.Bytes()
	}
	answered := func() float64 {
		t.Helper()
		v, err := srv.Metric(context.Background(), "serval_completions_total")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	before := answered()
	status, _, body := complete()
	var res api.CompletionResponse
	if status != 200 || json.Unmarshal(body, &res) != nil || len(res.Choices) != 1 || res.Choices[0].Text != ":= 1" {
		t.Fatalf("answer %d %s, want 200 with the oracle's \":= 1\"", status, body)
	}
	if got := answered() - before; got != 1 {
		t.Errorf("serval ran %v completions for it, want 1", got)
	}

	o.UpstreamToken = "not-a-token"
	if status, _, body := complete(); status != http.StatusUnauthorized || !strings.Contains(string(body), "error") {
		t.Errorf("serval's 401 became %d %s", status, body)
	}
}
