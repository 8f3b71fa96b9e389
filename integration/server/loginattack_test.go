package server_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/servaltest"
)

// loginWave sends n POST /login at once, the i-th for user(i) from the
// address xff(i) (sent as X-Forwarded-For; "" sends none), and counts the
// answers by status.
func loginWave(t *testing.T, base string, n int, user func(i int) string, xff func(i int) string) map[int]int {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: n},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer client.CloseIdleConnections()
	var mu sync.Mutex
	counts := map[int]int{}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			form := url.Values{"username": {user(i)}, "password": {"wrong password " + strconv.Itoa(i)}}
			req, err := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
			if err != nil {
				t.Error(err)
				return
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", base)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			if a := xff(i); a != "" {
				req.Header.Set("X-Forwarded-For", a)
			}
			<-start
			resp, err := client.Do(req)
			status := -1
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
				if (status == 429 || status == 503) && resp.Header.Get("Retry-After") == "" {
					t.Errorf("%d without Retry-After", status)
				}
			}
			mu.Lock()
			counts[status]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return counts
}

// H1: concurrent wrong logins are charged before the password check, so
// 60 at once check at most the account's budget (10) and at least 50 are
// refused at once (429); 40 at once from one IPv6 /64 against different
// accounts get at most the address's budget (30), at least 10 refused. A
// login that found every argon2 slot busy (503) was not checked and is
// refunded. Checked after the charge, all 60 went through.
func TestConcurrentLoginsCannotOutrunTheThrottle(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{Args: []string{"--trusted-proxy", "127.0.0.1"}})
	s.SetupAdmin("alice", "correct horse battery")
	counts := loginWave(t, s.URL, 60, func(int) string { return "alice" }, func(i int) string { return fmt.Sprintf("192.0.2.%d", i+1) })
	t.Logf("60 concurrent wrong logins for one account: %v", counts)
	if counts[http.StatusUnauthorized] > 10 || counts[http.StatusTooManyRequests] < 50 || counts[http.StatusUnauthorized]+counts[http.StatusTooManyRequests]+counts[http.StatusServiceUnavailable] != 60 {
		t.Errorf("answers %v: want at most 10 checked (401), at least 50 refused (429), 503 for the rest", counts)
	}

	counts = loginWave(t, s.URL, 40, func(i int) string { return fmt.Sprintf("nobody%d", i) }, func(i int) string { return fmt.Sprintf("2001:db8:1:2::%x", i+1) })
	t.Logf("40 concurrent logins from one IPv6 /64: %v", counts)
	if counts[http.StatusUnauthorized] > 30 || counts[http.StatusTooManyRequests] < 10 || counts[http.StatusUnauthorized]+counts[http.StatusTooManyRequests]+counts[http.StatusServiceUnavailable] != 40 {
		t.Errorf("answers %v: want at most 30 checked (401) from one /64, at least 10 refused (429)", counts)
	}
}

// peakRSS is the process's peak resident memory (VmHWM) in MiB.
func peakRSS(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// H2: argon2id takes 19 MiB per check; logins from many addresses (no
// account needed) must not run unboundedly many at once. 60 and then
// 1,000 concurrent logins, each from its own address: the server's peak
// RSS grows by at most 300 MiB (4 checks at once on 2 cores: 76 MiB of
// argon2 memory, plus the garbage collector's slack and 1,000 connections;
// measured +97 and +195 MiB), and every answer is 401, 429 or 503 with
// Retry-After. Unbounded, 60 took 1.1 GB.
func TestLoginFloodMemoryIsBounded(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{Args: []string{"--trusted-proxy", "127.0.0.1"}})
	s.SetupAdmin("alice", "correct horse battery")
	base := peakRSS(t, s.PID())
	for _, n := range []int{60, 1000} {
		counts := loginWave(t, s.URL, n, func(i int) string { return fmt.Sprintf("user%d-%d", n, i) },
			func(i int) string { return fmt.Sprintf("10.%d.%d.%d", n%256, i/256, i%256) })
		peak := peakRSS(t, s.PID())
		t.Logf("%d concurrent logins: %v; peak RSS %.0f MiB (%.0f MiB at start, +%.0f)", n, counts, peak, base, peak-base)
		if peak-base > 300 {
			// Fatal: unbounded, the next wave of 1,000 would take 19 GB.
			t.Fatalf("%d concurrent logins raised the peak RSS by %.0f MiB (bound 300)", n, peak-base)
		}
		for status, c := range counts {
			if status != 401 && status != 429 && status != 503 {
				t.Errorf("%d logins answered %d", c, status)
			}
		}
		if counts[401] == 0 {
			t.Errorf("no login was checked at all: %v", counts)
		}
	}
	// Still serving.
	b := servaltest.NewBrowser(t, s.URL)
	if status, body := b.Do(http.MethodPost, "/login", url.Values{"username": {"alice"}, "password": {"correct horse battery"}}); status != http.StatusSeeOther {
		t.Errorf("login after the flood: %d %.300s", status, body)
	}
}

// L6: the current-password check of POST /password is throttled like a
// login: a stolen session cannot guess the password there unbounded.
func TestPasswordChangeIsThrottled(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{})
	b := s.SetupAdmin("alice", "correct horse battery")
	statuses := map[int]int{}
	for i := range 11 {
		status, _ := b.Do(http.MethodPost, "/password", url.Values{"current": {fmt.Sprintf("guess number %d", i)}, "password": {"a new password 123"}})
		statuses[status]++
	}
	if statuses[http.StatusBadRequest] > 10 || statuses[http.StatusTooManyRequests] == 0 {
		t.Errorf("11 wrong current passwords: %v; want at most 10 checked (400), then 429", statuses)
	}
}
