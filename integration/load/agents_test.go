package load

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
	answeredBefore := scrape(t, s)[bench.MetricAnsweredCompletions]
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
	byServer := scrape(t, s)[bench.MetricAnsweredCompletions] - answeredBefore
	offered := float64(pauses) / elapsed.Seconds()
	t.Logf("| agents | capacity (/s) | pauses offered (/s) | served | ideal | Jain | never served | keys answered | completions answered by the server (/s) | load |")
	t.Logf("| %d | %.1f | %.2f | %.0f %% (%d of %d) | %.0f %% | %.2f | %d | %d | %.0f (%.1f) | %s",
		n, capacity, offered, 100*float64(shown)/float64(pauses), shown, pauses, 100*min(1, capacity/offered), Jain(served), Unserved(served),
		answered, byServer, byServer/elapsed.Seconds(), loadAverage())
}
