package load

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/bench"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
)

// soakSample is the server's state at one minute of the soak.
type soakSample struct {
	minute                   float64
	goroutines, fds, rssMB   float64
	dbMB, walMB, shmMB       float64
	answered, served, pauses int
}

// TestSoak plays 20 typists against one serval for a long time (outside
// make test) and samples goroutines, open fds, RSS and the SQLite files
// every minute, then states the slopes after the warm-up:
//
//	SERVAL_SOAK=60m SERVAL_SOAK_OUT=/tmp/soak.txt go test -run TestSoak -v -timeout 70m ./integration/load/
//
// (make soak). SERVAL_SOAK_BINARY picks the serval binary, SERVAL_SOAK_TYPISTS
// the typists (20), SERVAL_SOAK_WARMUP the minutes left out of the slopes (10).
func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("SERVAL_SOAK"))
	if err != nil || d <= 0 {
		t.Skip("set SERVAL_SOAK=60m to run the soak")
	}
	typists := 20
	if n, err := strconv.Atoi(os.Getenv("SERVAL_SOAK_TYPISTS")); err == nil && n > 0 {
		typists = n
	}
	warmup := 10.0
	if w, err := strconv.ParseFloat(os.Getenv("SERVAL_SOAK_WARMUP"), 64); err == nil && w >= 0 {
		warmup = w
	}
	out := io.Writer(os.Stdout)
	if p := os.Getenv("SERVAL_SOAK_OUT"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		out = f
	}
	s := servaltest.Start(t, servaltest.Options{Binary: os.Getenv("SERVAL_SOAK_BINARY")})
	traces := typistTraces(t, 50)
	tokens := typistTokens(t, s, typists)
	fmt.Fprintf(out, "soak: %d typists for %s against %s, load %s\n", typists, d, s.URL, loadAverage())
	fmt.Fprintln(out, "minute goroutines fds rss_mb db_mb wal_mb shm_mb answered pauses served load1")

	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	type result struct {
		rep *TypistReport
		err error
	}
	// Typists play in one-minute rounds, so each minute's figures are its own.
	done := make(chan result, 1)
	var samples []soakSample
	start := time.Now()
	go func() {
		var last *TypistReport
		for ctx.Err() == nil {
			left := time.Until(start.Add(d))
			rep, err := RunTypists(ctx, TypistConfig{URL: s.URL, Tokens: tokens, Duration: min(time.Minute, left), Traces: traces})
			if err != nil {
				done <- result{nil, err}
				return
			}
			last = rep
			smp := sampleSoak(s, start)
			smp.answered, smp.pauses, smp.served = int(rep.AnsweredPerSec*rep.Seconds), rep.Pauses, rep.Served
			samples = append(samples, smp)
			fmt.Fprintf(out, "%6.1f %10.0f %3.0f %6.1f %5.2f %6.2f %6.2f %8d %6d %6d %s\n", smp.minute, smp.goroutines, smp.fds, smp.rssMB,
				smp.dbMB, smp.walMB, smp.shmMB, smp.answered, smp.pauses, smp.served, loadAverage())
		}
		done <- result{last, nil}
	}()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	var xs, g, fd, rss, db, wal []float64
	for _, smp := range samples {
		if smp.minute < warmup {
			continue
		}
		xs = append(xs, smp.minute)
		g, fd, rss = append(g, smp.goroutines), append(fd, smp.fds), append(rss, smp.rssMB)
		db, wal = append(db, smp.dbMB), append(wal, smp.walMB)
	}
	summary := fmt.Sprintf("slopes per minute after minute %.0f (%d samples): goroutines %+.2f, fds %+.2f, RSS %+.3f MB, serval.db %+.3f MB, -wal %+.3f MB",
		warmup, len(xs), Slope(xs, g), Slope(xs, fd), Slope(xs, rss), Slope(xs, db), Slope(xs, wal))
	fmt.Fprintln(out, summary)
	t.Log(summary)
	if len(samples) == 0 {
		t.Fatal("no samples")
	}
}

// sampleSoak reads the server's metrics and its data directory's SQLite files.
func sampleSoak(s *servaltest.Server, start time.Time) soakSample {
	smp := soakSample{minute: time.Since(start).Minutes()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if m, err := bench.ScrapeMetrics(ctx, s.URL, s.Token); err == nil {
		smp.goroutines, smp.fds, smp.rssMB = m["go_goroutines"], m["process_open_fds"], m["process_resident_memory_bytes"]/(1<<20)
	}
	size := func(name string) float64 {
		fi, err := os.Stat(filepath.Join(s.DataDir, name))
		if err != nil {
			return 0
		}
		return float64(fi.Size()) / (1 << 20)
	}
	smp.dbMB, smp.walMB, smp.shmMB = size("serval.db"), size("serval.db-wal"), size("serval.db-shm")
	return smp
}
