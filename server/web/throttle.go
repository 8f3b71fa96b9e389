package web

import (
	"math"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Login throttling: each failed login takes one unit from the account's
// budget and one from the client address's; a login is refused (429 with
// Retry-After) while either is empty. Budgets refill slowly, so a guesser
// gets about 10 tries per account at once, then one every 30 s.
const (
	accountBurst  = 10
	accountRefill = 30 * time.Second
	addrBurst     = 30
	addrRefill    = 10 * time.Second
	// maxThrottled bounds the memory unknown usernames and addresses can take.
	maxThrottled = 10000
)

type throttle struct {
	now func() time.Time

	mu       sync.Mutex
	accounts map[string]*rate.Limiter
	addrs    map[string]*rate.Limiter
}

func newThrottle(now func() time.Time) *throttle {
	return &throttle{now: now, accounts: map[string]*rate.Limiter{}, addrs: map[string]*rate.Limiter{}}
}

// retryAfter returns how long a login for account from addr must wait
// (0: it may go ahead). It takes nothing from the budgets.
func (t *throttle) retryAfter(account, addr string) time.Duration {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	wait := time.Duration(0)
	for _, l := range []*rate.Limiter{t.accounts[strings.ToLower(account)], t.addrs[addr]} {
		if l == nil {
			continue
		}
		if tokens := l.TokensAt(now); tokens < 1 {
			d := time.Duration((1 - tokens) / float64(l.Limit()) * float64(time.Second))
			wait = max(wait, d)
		}
	}
	return wait
}

// failed records a failed login.
func (t *throttle) failed(account, addr string) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	take(t.accounts, strings.ToLower(account), rate.Every(accountRefill), accountBurst, now)
	take(t.addrs, addr, rate.Every(addrRefill), addrBurst, now)
}

// succeeded forgets the account's failures (not the address's).
func (t *throttle) succeeded(account string) {
	t.mu.Lock()
	delete(t.accounts, strings.ToLower(account))
	t.mu.Unlock()
}

func take(m map[string]*rate.Limiter, key string, every rate.Limit, burst int, now time.Time) {
	l := m[key]
	if l == nil {
		if len(m) >= maxThrottled {
			prune(m, now)
		}
		l = rate.NewLimiter(every, burst)
		m[key] = l
	}
	l.AllowN(now, 1)
}

// prune drops the limiters that refilled completely; if that frees nothing
// (a flood of distinct keys), it drops them all rather than grow.
func prune(m map[string]*rate.Limiter, now time.Time) {
	for k, l := range m {
		if l.TokensAt(now) >= float64(l.Burst()) {
			delete(m, k)
		}
	}
	if len(m) >= maxThrottled {
		clear(m)
	}
}

// retrySeconds is the Retry-After value of d: whole seconds, at least 1.
func retrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
