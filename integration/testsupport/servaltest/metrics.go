package servaltest

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Metric sums the samples of the server's Prometheus metrics (GET /metrics,
// with the server's token) whose lines start with prefix: a metric name, or
// a name with labels (`serval_completions_total{stop_reason="cancelled"}`).
// A test that polls shares the token's rate limit with the clients it
// tests: a refusal (429) is waited out (Retry-After, until ctx ends) and
// asked again, never read as zero.
func (s *Server) Metric(ctx context.Context, prefix string) (float64, error) {
	for {
		v, retry, err := s.metric(ctx, prefix)
		if retry == 0 {
			return v, err
		}
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, fmt.Errorf("metrics: rate limited until the test's deadline: %w", err)
		case <-t.C:
		}
	}
}

// metric reads /metrics once; retry is how long to wait when refused (429).
func (s *Server) metric(ctx context.Context, prefix string) (v float64, retry time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	if s.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusTooManyRequests {
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return 0, time.Duration(min(max(secs, 1), 5)) * time.Second, fmt.Errorf("metrics: %s", resp.Status)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("metrics: %s", resp.Status)
	}
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, prefix) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				return 0, 0, fmt.Errorf("metrics: %q: %w", line, err)
			}
			sum += v
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("metrics: %w", err)
	}
	return sum, 0, nil
}
