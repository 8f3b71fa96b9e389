package bench

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/server/api"
)

func oracleFor(t *testing.T) (*Oracle, string) {
	t.Helper()
	file := "package p\n\nfunc f() int {\n\tx := 1\n\treturn x\n}\n"
	start := strings.Index(file, "\tx")
	end := strings.Index(file, "}\n")
	tr := Trace{Text: file[:start] + file[end:], Offset: start, Typed: file[start:end]}
	return NewOracle([]Trace{tr}, "tok", 0), file
}

func TestOracleContinuation(t *testing.T) {
	o, file := oracleFor(t)
	suffix := "}\n"
	cases := []struct{ prefix, want string }{
		{file[:strings.Index(file, "x := 1")+2], ":= 1"},           // rest of the line
		{file[:strings.Index(file, "\n\treturn")], "\n\treturn x"}, // at a line's end: the next line
		{file[:strings.Index(file, "return x")+8], "\n"},           // last line of the hole: only up to the suffix
		{"no such text", ""},
		{"", ""},
	}
	for _, c := range cases {
		if got := o.Continuation(c.prefix, suffix); got != c.want {
			t.Errorf("after %q: %q, want %q", c.prefix[max(0, len(c.prefix)-12):], got, c.want)
		}
	}
}

func TestOracleHTTP(t *testing.T) {
	o, file := oracleFor(t)
	o.Delay = time.Millisecond
	srv := httptest.NewServer(o)
	defer srv.Close()

	post := func(token string, body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/completions", strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := post("wrong", "{}"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token: %s", resp.Status)
	}
	if resp := post("tok", "{not json"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad JSON: %s", resp.Status)
	}
	body, _ := json.Marshal(api.CompletionRequest{Language: "go", Segments: &api.Segments{
		Prefix: file[:strings.Index(file, "x := 1")+2], Suffix: "}\n"}})
	resp := post("tok", string(body))
	defer resp.Body.Close()
	var out api.CompletionResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Choices) != 1 || out.Choices[0].Text != ":= 1" {
		t.Fatalf("completion: %v %+v", err, out)
	}
	if o.Requests() != 1 {
		t.Errorf("%d requests counted, want 1 (refused and malformed requests are not completions)", o.Requests())
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/health", nil)
	req.Header.Set("Authorization", "Bearer tok")
	hresp, err := http.DefaultClient.Do(req)
	if err != nil || hresp.StatusCode != http.StatusOK {
		t.Fatalf("health: %v %v", err, hresp.Status)
	}
	hresp.Body.Close()
}
