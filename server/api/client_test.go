package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func newTestClient(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL+"/", "srv_tok", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewClientRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "localhost:8080", "ftp://x", "http://"} {
		if _, err := NewClient(u, "", nil); err == nil {
			t.Errorf("NewClient(%q) succeeded", u)
		}
	}
}

func TestComplete(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/v1/completions" {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer srv_tok" {
			t.Errorf("Authorization %q", got)
		}
		var req CompletionRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Error(err)
		}
		if req.Stream || req.Segments.Prefix != "def f(" {
			t.Errorf("request %+v", req)
		}
		fmt.Fprint(w, `{"id":"cmpl-1","choices":[{"index":0,"text":"x):"}]}`)
	})
	resp, err := c.Complete(context.Background(), &CompletionRequest{Language: "python", Segments: &Segments{Prefix: "def f("}, Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	if resp.ID != "cmpl-1" || resp.Choices[0].Text != "x):" {
		t.Fatalf("%+v", resp)
	}
}

func TestCompleteStreamSSE(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		var req CompletionRequest
		json.NewDecoder(r.Body).Decode(&req)
		if !req.Stream {
			t.Error("stream not requested")
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, ": keep-alive\n\n")
		io.WriteString(w, "data: {\"id\":\"cmpl-2\",\"choices\":[{\"index\":0,\"text\":\"he\"}]}\n\n")
		io.WriteString(w, "data:{\"id\":\"cmpl-2\",\"choices\":[{\"index\":0,\"text\":\"llo\\n\"}]}\r\n\r\n")
		io.WriteString(w, "data: {\"id\":\"cmpl-2\",\"choices\":[],\"debug_data\":{\"prompt\":\"P\"}}\n\n")
		io.WriteString(w, "data: [DONE]\n\n")
	})
	var deltas []string
	resp, err := c.CompleteStream(context.Background(), &CompletionRequest{Segments: &Segments{Prefix: "x"}}, func(d string) bool {
		deltas = append(deltas, d)
		return false
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(deltas, "|") != "he|llo\n" || resp.ID != "cmpl-2" || resp.Choices[0].Text != "hello\n" || resp.DebugData.Prompt != "P" {
		t.Fatalf("deltas %q resp %+v", deltas, resp)
	}
}

func TestCompleteStreamAcceptsPlainJSON(t *testing.T) {
	// A Tabby server ignores "stream" and answers plain JSON.
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"cmpl-3","choices":[{"index":0,"text":"whole"}]}`)
	})
	var deltas []string
	resp, err := c.CompleteStream(context.Background(), &CompletionRequest{Segments: &Segments{Prefix: "x"}}, func(d string) bool {
		deltas = append(deltas, d)
		return false
	})
	if err != nil || len(deltas) != 1 || deltas[0] != "whole" || resp.ID != "cmpl-3" {
		t.Fatalf("deltas %q resp %+v err %v", deltas, resp, err)
	}
}

func TestCompleteStreamErrors(t *testing.T) {
	body := ""
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, body)
	})
	ctx := context.Background()
	req := &CompletionRequest{Segments: &Segments{Prefix: "x"}}
	nop := func(string) bool { return false }

	body = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"text\":\"a\"}]}\n\n"
	if _, err := c.CompleteStream(ctx, req, nop); !errors.Is(err, ErrStreamTruncated) {
		t.Errorf("truncated: %v", err)
	}
	body = "data: {\"id\":\"c\",\"choices\":[],\"error\":\"engine died\"}\n\n"
	var se *StreamError
	if _, err := c.CompleteStream(ctx, req, nop); !errors.As(err, &se) || se.Message != "engine died" {
		t.Errorf("error event: %v", err)
	}
	body = "data: {not json\n\n"
	if _, err := c.CompleteStream(ctx, req, nop); err == nil || !strings.Contains(err.Error(), "bad stream event") {
		t.Errorf("bad json: %v", err)
	}
}

// TestCompleteStreamStops: a caller that has all the text it needs stops
// the stream; it gets the response so far and no error, and the server
// sees the request end before it has sent everything.
func TestCompleteStreamStops(t *testing.T) {
	release := make(chan struct{})
	ended := make(chan struct{})
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		defer close(ended)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"text\":\"a\\n\"}]}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done(): // the client went away: what stopping means
		case <-release:
			io.WriteString(w, "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"text\":\"more\"}]}\n\ndata: [DONE]\n\n")
		}
	})
	defer close(release)
	calls := 0
	resp, err := c.CompleteStream(context.Background(), &CompletionRequest{Segments: &Segments{Prefix: "x"}}, func(d string) bool {
		calls++
		return true
	})
	if err != nil || resp == nil || resp.ID != "c" || resp.Choices[0].Text != "a\n" || calls != 1 {
		t.Fatalf("stopped stream: resp %+v err %v after %d calls", resp, err, calls)
	}
	select {
	case <-ended:
	case <-time.After(time.Minute):
		t.Fatal("the server's request did not end after the client stopped the stream")
	}
}

func TestStatusErrors(t *testing.T) {
	code, retry, body := 0, "", ""
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if retry != "" {
			w.Header().Set("Retry-After", retry)
		}
		w.WriteHeader(code)
		io.WriteString(w, body)
	})
	for _, tc := range []struct {
		code        int
		retry, body string
		wantMsg     string
		wantRetry   time.Duration
	}{
		{401, "", `{"error":"create a token"}`, "create a token", 0},
		{429, "7", `{"error":"slow down"}`, "slow down", 7 * time.Second},
		{503, "2", `{"error":"queue full"}`, "queue full", 2 * time.Second},
		{401, "", ``, "", 0}, // Tabby: empty body
		{500, "", `plain text`, "plain text", 0},
	} {
		code, retry, body = tc.code, tc.retry, tc.body
		for name, call := range map[string]func() error{
			"complete": func() error { _, err := c.Complete(context.Background(), &CompletionRequest{}); return err },
			"stream": func() error {
				_, err := c.CompleteStream(context.Background(), &CompletionRequest{}, func(string) bool { return false })
				return err
			},
			"event": func() error { return c.LogEvent(context.Background(), &LogEventRequest{Type: EventView}) },
		} {
			err := call()
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("%s %d: %v is not a StatusError", name, tc.code, err)
			}
			if se.StatusCode != tc.code || se.Message != tc.wantMsg || se.RetryAfter != tc.wantRetry || StatusCode(err) != tc.code {
				t.Errorf("%s %d: %+v", name, tc.code, se)
			}
			if se.Error() == "" {
				t.Error("empty message")
			}
		}
	}
	if StatusCode(errors.New("x")) != 0 {
		t.Error("StatusCode of a plain error")
	}
}

func TestHealthRetriesPostOn405(t *testing.T) {
	var methods []string
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		methods = append(methods, r.Method)
		if r.Method == "GET" {
			w.WriteHeader(405)
			return
		}
		fmt.Fprint(w, `{"model":"m","device":"cpu","cuda_devices":[],"version":{"git_describe":"v1"}}`)
	})
	h, err := c.Health(context.Background())
	if err != nil || h.Model != "m" || h.Version.GitDescribe != "v1" || strings.Join(methods, ",") != "GET,POST" {
		t.Fatalf("%+v %v %v", h, err, methods)
	}
}

func TestLogEventAndServerSetting(t *testing.T) {
	var got LogEventRequest
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/events":
			json.NewDecoder(r.Body).Decode(&got)
		case "/v1beta/server_setting":
			fmt.Fprint(w, `{"disable_client_side_telemetry":true}`)
		}
	})
	ms := int64(12)
	if err := c.LogEvent(context.Background(), &LogEventRequest{Type: EventSelect, CompletionID: "cmpl-1", Elapsed: &ms, SelectKind: "line"}); err != nil {
		t.Fatal(err)
	}
	if got.Type != "select" || got.CompletionID != "cmpl-1" || *got.Elapsed != 12 || got.SelectKind != "line" {
		t.Fatalf("%+v", got)
	}
	s, err := c.ServerSetting(context.Background())
	if err != nil || !s.DisableClientSideTelemetry {
		t.Fatalf("%+v %v", s, err)
	}
}

func TestContextCancelStopsStream(t *testing.T) {
	release := make(chan struct{})
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"text\":\"a\"}]}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := c.CompleteStream(ctx, &CompletionRequest{}, func(string) bool { cancel(); return false })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "3": 3 * time.Second, " 10 ": 10 * time.Second, "-1": 0, "soon": 0,
		now.Add(5 * time.Second).Format(http.TimeFormat): 5 * time.Second,
	} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestReadStreamLongLine(t *testing.T) {
	long := strings.Repeat("x", 100<<10)
	in := "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"text\":\"" + long + "\"}]}\n\ndata: [DONE]"
	var got string
	if err := ReadStream(strings.NewReader(in), func(e *StreamEvent) error { got = e.Choices[0].Text; return nil }); err != nil {
		t.Fatal(err)
	}
	if got != long {
		t.Fatalf("long line: got %d bytes", len(got))
	}
}

func FuzzReadStream(f *testing.F) {
	f.Add("data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"text\":\"a\"}]}\n\ndata: [DONE]\n\n")
	f.Add(": comment\n\ndata: [DONE]")
	f.Add("event: x\ndata: {}\ndata: {}\n\n")
	f.Add("data: {\"error\":\"boom\"}\r\n\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		n := 0
		err := ReadStream(strings.NewReader(in), func(*StreamEvent) error { n++; return nil })
		if err == nil && !strings.Contains(in, "[DONE]") {
			t.Fatalf("no [DONE] but no error for %q", in)
		}
	})
}
