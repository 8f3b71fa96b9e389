package load

import (
	"context"
	"errors"
	"math"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/bench"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/server/api"
)

func TestSlope(t *testing.T) {
	if s := Slope([]float64{0, 1, 2, 3}, []float64{5, 7, 9, 11}); s != 2 {
		t.Errorf("slope %v, want 2", s)
	}
	if s := Slope([]float64{1, 1}, []float64{1, 2}); !math.IsNaN(s) {
		t.Errorf("slope of one x: %v", s)
	}
}

// A short load run against a real serval with one slot and a small queue:
// every request gets an answer the client can act on (200, or 429/503 with
// the server saying so), and the server is sampled throughout.
func TestLoadRunAgainstRealServal(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{Args: []string{"--parallel", "1", "--max-queue", "2", "--rate-limit", "-1"}})
	traces, err := bench.Build(bench.GoSource(runtime.GOROOT()), 1, bench.TraceOptions{Count: 8, MinBody: 80, MaxBody: 400, MaxFileBytes: 64 << 10, Typist: bench.DefaultTypist})
	if err != nil {
		t.Skipf("no Go sources to type: %v", err)
	}
	rep, err := Run(context.Background(), Config{URL: s.URL, Token: s.Token, Agents: 12, Duration: 5 * time.Second, Traces: traces, SampleEvery: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.Table())
	if len(rep.ByStatus) == 0 {
		t.Errorf("no request made")
	}
	// Whether requests were answered during the run depends on the machine:
	// on a loaded one every request can be superseded or refused while the
	// single slot is busy. What must hold: the server is still serving after
	// it. The run's last requests, cancelled as it ends, can still hold the
	// slot and the queue for a step, so the first answer may be a 503 with
	// Retry-After: the client waits as told and asks again (bounded).
	c, err := api.NewClient(s.URL, s.Token, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for attempt := 1; ; attempt++ {
		_, err := c.Complete(ctx, &api.CompletionRequest{Language: "go", Segments: &api.Segments{Prefix: "func main() {\n\t"}, MaxTokens: 4})
		var se *api.StatusError
		if err == nil {
			break
		} else if attempt < 5 && errors.As(err, &se) && se.StatusCode == http.StatusServiceUnavailable && se.RetryAfter > 0 {
			time.Sleep(se.RetryAfter)
			continue
		}
		t.Errorf("a completion after the load run (attempt %d): %v (statuses during it: %v)", attempt, err, rep.ByStatus)
		break
	}
	for st := range rep.ByStatus {
		switch st {
		case "200", "409", "503", "429", "cancelled", "timeout":
		default:
			t.Errorf("%d requests ended %q: %v", rep.ByStatus[st], st, rep.ByStatus)
		}
	}
	if len(rep.Samples) < 3 || rep.Samples[len(rep.Samples)-1].Goroutines == 0 || rep.Samples[0].RSSMB == 0 {
		t.Errorf("samples missing or empty: %+v", rep.Samples)
	}
}
