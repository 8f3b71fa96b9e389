package replicas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/pgtest"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/server/api"
)

// BenchmarkReplicas compares one replica with two, behind HAProxy
// (docs/deploy/haproxy.cfg) on one PostgreSQL, on the auth path (GET
// /v1/health: a token check) and the events path (POST /v1/events: a token
// check and an event write), with 16 clients of 16 tokens; it reports
// requests/s and the p99. On one machine the replicas share its cores, so
// this measures the overhead of the layout, not the capacity of N hosts:
//
//	go test -run '^$' -bench Replicas -benchtime 3000x ./integration/replicas/
func BenchmarkReplicas(b *testing.B) {
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("replicas=%d", n), func(b *testing.B) {
			dbURL := pgtest.Shared(b).NewDatabase(b)
			ports := make([]int, n)
			var first *servaltest.Server
			for i := range n {
				ports[i] = freePort(b)
				opts := servaltest.Options{Args: []string{"--database", dbURL, "--port", strconv.Itoa(ports[i]), "--rate-limit", "-1"}}
				if first != nil {
					opts.Model, opts.DataDir = first.ModelPath, first.DataDir
				}
				s := servaltest.Start(b, opts)
				if first == nil {
					first = s
				}
			}
			lb := startHAProxy(b, ports)
			tokens := makeTokens(b, dbURL, 16)
			for _, path := range []string{"auth", "events"} {
				b.Run(path, func(b *testing.B) { benchRequests(b, lb, tokens, path) })
			}
		})
	}
}

func benchRequests(b *testing.B, base string, tokens []string, path string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	var next atomic.Int64
	times := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	for c := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				var req *http.Request
				if path == "auth" {
					req, _ = http.NewRequest("GET", base+"/v1/health", nil)
				} else {
					body, _ := json.Marshal(api.LogEventRequest{Type: "view", CompletionID: fmt.Sprintf("bench-%d-%d", c, i), Language: "go"})
					req, _ = http.NewRequest("POST", base+"/v1/events", bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
				}
				req.Header.Set("Authorization", "Bearer "+tokens[c])
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						failed.Add(1)
					}
				} else {
					failed.Add(1)
				}
				times[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d requests failed", f, b.N)
	}
	slices.Sort(times)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
}
