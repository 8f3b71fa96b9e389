package load

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/bench"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
)

// TestAgentsTypingReplay runs real serval-agent processes at once against
// one serval, each with its own token and driven by an editor replaying
// typing traces (integration/bench), and prints the overload table's
// figures for them: a pause is served when the agent showed a suggestion
// for the key before it (from the server or its cache) before the next
// key. Capacity is measured beside it, as in TestOverloadTable. It takes
// minutes and runs only when asked:
//
//	SERVAL_AGENTS=20 SERVAL_REQUIRE_LLAMA=1 SERVAL_BIN_DIR=$PWD/bin go test -run TestAgentsTypingReplay -v -timeout 30m ./integration/load/
//
// SERVAL_AGENTS_TRACES (4) is the traces each agent retypes;
// SERVAL_AGENTS_SERVAL (default: the built serval) another server binary.
func TestAgentsTypingReplay(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SERVAL_AGENTS"))
	if n <= 0 {
		t.Skip("set SERVAL_AGENTS=N to run N real agents (minutes)")
	}
	per, _ := strconv.Atoi(os.Getenv("SERVAL_AGENTS_TRACES"))
	if per <= 0 {
		per = 4
	}
	s := servaltest.Start(t, servaltest.Options{Binary: os.Getenv("SERVAL_AGENTS_SERVAL")})
	traces := typistTraces(t, n*per)
	tokens := typistTokens(t, s, n)
	capacity, err := Capacity(context.Background(), s.URL, s.Token, traces, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	answeredBefore := answeredCompletions(t, s)
	agentBin := servaltest.AgentBinary(t)
	work := t.TempDir()
	runs := make([]*bench.AgentRun, n)
	errs := make([]error, n)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
			defer cancel()
			mine := traces[i*per : (i+1)*per]
			runs[i], errs[i] = bench.Play(ctx, bench.Agent{Name: fmt.Sprintf("agent-%03d", i), Command: []string{agentBin, "--stdio"}},
				mine, bench.RunConfig{Endpoint: s.URL, Token: tokens[i], Settle: 2 * time.Second, WorkDir: filepath.Join(work, strconv.Itoa(i))})
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	served := make([]int, n)
	pauses, shown, answered := 0, 0, 0
	for i, r := range runs {
		if errs[i] != nil {
			t.Fatalf("agent %d: %v", i, errs[i])
		}
		for _, k := range r.Keys {
			if k.Answered {
				answered++
			}
			if !k.Paused {
				continue
			}
			pauses++
			if k.Shown {
				shown++
				served[i]++
			}
		}
	}
	never := 0
	for _, x := range served {
		if x == 0 {
			never++
		}
	}
	byServer := answeredCompletions(t, s) - answeredBefore
	offered := float64(pauses) / elapsed.Seconds()
	t.Logf("| agents | capacity (/s) | pauses offered (/s) | served | ideal | Jain | never served | keys answered | completions answered by the server (/s) | load |")
	t.Logf("| %d | %.1f | %.2f | %.0f %% (%d of %d) | %.0f %% | %.2f | %d | %d | %.0f (%.1f) | %s",
		n, capacity, offered, 100*float64(shown)/float64(pauses), shown, pauses, 100*min(1, capacity/offered), Jain(served), never,
		answered, byServer, byServer/elapsed.Seconds(), loadAverage())
}

// answeredCompletions is the completion requests s answered 200 so far.
func answeredCompletions(t *testing.T, s *servaltest.Server) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	const series = `serval_http_request_duration_seconds_count{code="200",route="POST /v1/completions"} `
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}
