package replicas

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/pgtest"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/integration/testsupport/typingreplay"
	"github.com/servalhq/serval/server/api"
)

// BenchmarkRoutingPromptCache measures what routing without stickiness
// costs in prompt tokens evaluated. Replicas with the in-process engine (the
// generated test model, 4 slots each, so that each can keep every user's
// prompt) on one PostgreSQL, behind HAProxy with docs/deploy/haproxy.cfg:
// two as written (sticky by token), then two and three with `balance
// roundrobin`. Four users type at once, each replaying the typing trace of
// the engine benchmarks (typingreplay, a request every 3 characters). It
// reports the prompt tokens the replicas evaluated and reused, from their
// /metrics counters, per request:
//
//	go test -run '^$' -bench RoutingPromptCache -benchtime 1x ./integration/replicas/
func BenchmarkRoutingPromptCache(b *testing.B) {
	steps := typingreplay.Steps(b, "func", true, true)
	for _, c := range []struct {
		balance  string
		replicas int
	}{{"sticky", 2}, {"roundrobin", 2}, {"roundrobin", 3}} {
		b.Run(fmt.Sprintf("%s/replicas=%d", c.balance, c.replicas), func(b *testing.B) {
			balance := c.balance
			dbURL := pgtest.Shared(b).NewDatabase(b)
			var ports []int
			for range c.replicas {
				ports = append(ports, freePort(b))
			}
			var rs []*servaltest.Server
			for i, port := range ports {
				opts := servaltest.Options{Args: []string{"--database", dbURL, "--port", strconv.Itoa(port), "--rate-limit", "-1", "--parallel", "4"}}
				if i > 0 {
					opts.Model, opts.DataDir = rs[0].ModelPath, rs[0].DataDir
				}
				rs = append(rs, servaltest.Start(b, opts))
			}
			var lb string
			if balance == "sticky" {
				lb = startHAProxy(b, ports)
			} else {
				lb = startHAProxyWith(b, ports, func(cfg string) string {
					return strings.Replace(cfg, "balance hdr(Authorization)", "balance roundrobin", 1)
				})
			}
			tokens := makeTokens(b, dbURL, 4)
			before := promptCounters(b, rs)
			b.ResetTimer()
			for range b.N {
				replayTyping(b, lb, tokens, steps)
			}
			b.StopTimer()
			after := promptCounters(b, rs)
			requests := float64(b.N * len(tokens) * len(steps))
			evaluated, reused := after[0]-before[0], after[1]-before[1]
			b.ReportMetric(evaluated/requests, "evaluated-tokens/request")
			b.ReportMetric(reused/requests, "reused-tokens/request")
			b.ReportMetric(evaluated, "evaluated-tokens")
			b.ReportMetric(requests, "requests")
		})
	}
}

// replayTyping has each token type the steps at once, one request after
// the other's answer, as an editor does.
func replayTyping(b *testing.B, base string, tokens []string, steps []typingreplay.Step) {
	client := &http.Client{Timeout: time.Minute}
	var wg sync.WaitGroup
	errs := make(chan error, len(tokens))
	for _, token := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, st := range steps {
				body, _ := json.Marshal(api.CompletionRequest{Language: "go", MaxTokens: 4,
					Segments: &api.Segments{Prefix: st.Prefix, Suffix: st.Suffix}})
				req, _ := http.NewRequest("POST", base+"/v1/completions", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				msg, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("completion: %d %s", resp.StatusCode, msg)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// promptCounters sums serval_prompt_tokens_evaluated_total and
// serval_prompt_tokens_reused_total over the replicas.
func promptCounters(b *testing.B, rs []*servaltest.Server) [2]float64 {
	var sums [2]float64
	for _, r := range rs {
		code, body := apiStatus(b, "GET", r.URL+"/metrics", r.Token, nil)
		if code != 200 {
			b.Fatalf("/metrics: %d %s", code, body)
		}
		sc := bufio.NewScanner(strings.NewReader(body))
		for sc.Scan() {
			name, value, ok := strings.Cut(sc.Text(), " ")
			if !ok {
				continue
			}
			for i, want := range []string{"serval_prompt_tokens_evaluated_total", "serval_prompt_tokens_reused_total"} {
				if name == want {
					v, _ := strconv.ParseFloat(value, 64)
					sums[i] += v
				}
			}
		}
	}
	return sums
}
