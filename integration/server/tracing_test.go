package server_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/otlptest"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
)

// completeTraced posts one completion with an incoming traceparent.
func completeTraced(t *testing.T, s *servaltest.Server, traceparent string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/v1/completions",
		strings.NewReader(`{"language":"python","segments":{"prefix":"def add(a, b):\n    ","suffix":"\n"}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", traceparent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// TestServerHonoursTraceparent: a traced client's W3C traceparent makes the
// server's spans part of the client's trace, under the client's span;
// OTEL_SERVICE_NAME names the service.
func TestServerHonoursTraceparent(t *testing.T) {
	collector := otlptest.Start(t)
	s := servaltest.Start(t, servaltest.Options{Args: []string{"--max-tokens", "4", "--otlp-endpoint", collector.URL},
		Env: []string{"OTEL_BSP_SCHEDULE_DELAY=50", "OTEL_SERVICE_NAME=serval-eu"}})
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	completeTraced(t, s, "00-"+traceID+"-"+parentID+"-01")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := collector.WaitFor(ctx, func(spans []otlptest.Span) bool {
		_, ok := otlptest.Find(otlptest.Trace(spans, traceID), "serval-eu", "generation")
		return ok
	})
	if err != nil {
		t.Fatal(err)
	}
	tr := otlptest.Trace(collector.Spans(), traceID)
	server, ok := otlptest.Find(tr, "serval-eu", "POST /v1/completions")
	if !ok || server.ParentID != parentID || server.Kind != "server" {
		t.Fatalf("the server's span is not the child of the incoming traceparent's span:\n%s", otlptest.Tree(tr))
	}
	for _, name := range []string{"auth", "prompt build", "generate"} {
		if sp, ok := otlptest.Find(tr, "serval-eu", name); !ok || sp.ParentID != server.SpanID {
			t.Errorf("span %q missing or not under the request:\n%s", name, otlptest.Tree(tr))
		}
	}
	if !strings.Contains(s.Logs(), "trace_id="+traceID) {
		t.Errorf("the access log line does not carry the trace id:\n%s", s.Logs())
	}
}

// TestCollectorDownDropsSpansWithOneLogLine: a collector nobody listens on;
// completions answer as usual and the log says once that spans are dropped.
func TestCollectorDownDropsSpansWithOneLogLine(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + ln.Addr().String()
	ln.Close() // connections to it are refused from now on
	s := servaltest.Start(t, servaltest.Options{Args: []string{"--max-tokens", "4"},
		Env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + endpoint, "OTEL_BSP_SCHEDULE_DELAY=20"}})
	const dropped = "spans are dropped"
	complete := func() {
		completeTraced(t, s, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	}
	complete()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(s.Logs(), dropped) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(s.Logs(), dropped) {
		t.Fatalf("no log line about the collector:\n%s", s.Logs())
	}
	for range 4 {
		complete()
		time.Sleep(100 * time.Millisecond) // five export periods: each batch fails again
	}
	if n := strings.Count(s.Logs(), dropped); n != 1 {
		t.Fatalf("%d log lines about dropped spans, want one for the outage:\n%s", n, s.Logs())
	}
}

// TestHangingCollectorNeverDelaysCompletions: a collector that takes the
// export and never answers. Completions go on while its export is held: if
// any completion waited for the collector, it would never finish.
func TestHangingCollectorNeverDelaysCompletions(t *testing.T) {
	release := make(chan struct{})
	collector := otlptest.StartHanging(t, release)
	t.Cleanup(func() { close(release) }) // runs before the collector's own cleanup
	s := servaltest.Start(t, servaltest.Options{Args: []string{"--max-tokens", "4"},
		Env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + collector.URL, "OTEL_BSP_SCHEDULE_DELAY=20",
			"OTEL_EXPORTER_OTLP_TIMEOUT=600000"}}) // the export stays held for the whole test
	completeTraced(t, s, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	deadline := time.Now().Add(60 * time.Second)
	for collector.Exports() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if collector.Exports() == 0 {
		t.Fatal("the server never exported")
	}
	for range 3 {
		completeTraced(t, s, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	}
	if n := collector.Exports(); n != 1 {
		t.Fatalf("%d exports: the first should still be held", n)
	}
}
