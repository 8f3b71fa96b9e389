package web

import (
	"cmp"
	"context"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/servalhq/serval/server/connlimit"
	"github.com/servalhq/serval/server/store"
)

// Login throttling: every attempt takes one unit from the account's budget
// and one from the client address's before the password is checked, in
// one step under one lock, so concurrent attempts cannot all pass a check
// made before any is charged. An attempt is refused (429 with Retry-After)
// while either budget is empty. A successful login gives its units back
// and forgets the account's failures. Budgets refill slowly, so a guesser
// gets about 10 tries per account at once, then one every 30 s.
//
// On PostgreSQL the budgets are the database's (store.ChargeAttempt), shared
// by every replica: a balancer that is not sticky (browsers carry no token
// to hash) gives a guesser one budget, not one per replica. When the
// database cannot be asked, the replica's own budgets in memory serve.
//
// Addresses are keyed by the network a client controls (connlimit.Key: an
// IPv4 address, or an IPv6 /64, as the connection limit counts them). At most
// maxThrottled keys are kept per map; past that the fullest budgets (the
// least throttled keys) are forgotten first, never a lockout.
const (
	accountBurst  = 10
	accountRefill = 30 * time.Second
	addrBurst     = 30
	addrRefill    = 10 * time.Second
	// maxThrottled bounds the memory unknown usernames and addresses can take.
	maxThrottled = 10000
)

// Editor sign-ins started (device codes, which need no account): a client
// address gets 10 at once, then one a minute, so that it holds at most
// about 20 of the store's MaxPendingDeviceCodes (1,000) live codes, and one
// address cannot fill them for everyone.
const (
	deviceCodeBurst  = 10
	deviceCodeRefill = time.Minute
)

type throttle struct {
	now func() time.Time
	// The per-address budget: addrBurst and addrRefill for logins and
	// wrong device codes, the device-code constants for codes started.
	addrBurst  int
	addrRefill time.Duration
	// shared, when set, holds the budgets of every replica, under keys
	// starting with kind; the maps below serve when it cannot be asked.
	shared *store.Store
	kind   string

	mu       sync.Mutex
	accounts map[string]*bucket
	addrs    map[string]*bucket
}

// bucket is a token bucket: tokens at last, refilling one per every.
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) at(now time.Time, every time.Duration, burst int) float64 {
	return math.Min(float64(burst), b.tokens+float64(now.Sub(b.last))/float64(every))
}

func newThrottle(now func() time.Time) *throttle {
	return newAddrThrottle(now, addrBurst, addrRefill)
}

// newAddrThrottle is a throttle whose address budget is burst units,
// refilling one per every.
func newAddrThrottle(now func() time.Time, burst int, every time.Duration) *throttle {
	return &throttle{now: now, addrBurst: burst, addrRefill: every, accounts: map[string]*bucket{}, addrs: map[string]*bucket{}}
}

// sharedBy makes st (a PostgreSQL store) hold the budgets, under keys
// starting with kind ("login", "device", "code").
func (t *throttle) sharedBy(st *store.Store, kind string) *throttle {
	t.shared, t.kind = st, kind
	return t
}

// budgets are account's and addr's shared budgets.
func (t *throttle) budgets(account, addr string) (store.Budget, store.Budget) {
	return store.Budget{Key: t.kind + " account " + account, Every: accountRefill, Burst: accountBurst},
		store.Budget{Key: t.kind + " addr " + addr, Every: t.addrRefill, Burst: t.addrBurst}
}

// charge takes one unit from account's and addr's budgets before an attempt
// is checked. When either is empty it takes nothing and returns how long
// until both have a unit (> 0); 0 means the attempt may go ahead.
func (t *throttle) charge(ctx context.Context, account, addr string) time.Duration {
	account, addr = strings.ToLower(account), connlimit.Key(addr)
	if t.shared != nil {
		acc, ad := t.budgets(account, addr)
		if wait, err := t.shared.ChargeAttempt(ctx, acc, ad); err == nil {
			return wait
		}
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	acc := t.get(t.accounts, account, accountBurst, now)
	ad := t.get(t.addrs, addr, t.addrBurst, now)
	ta, tb := acc.at(now, accountRefill, accountBurst), ad.at(now, t.addrRefill, t.addrBurst)
	if ta < 1 || tb < 1 {
		wait := time.Duration(0)
		if ta < 1 {
			wait = max(wait, time.Duration((1-ta)*float64(accountRefill)))
		}
		if tb < 1 {
			wait = max(wait, time.Duration((1-tb)*float64(t.addrRefill)))
		}
		return wait
	}
	acc.tokens, acc.last = ta-1, now
	ad.tokens, ad.last = tb-1, now
	return 0
}

// chargeAddr takes one unit from addr's budget alone, as charge does; it
// is for what no account stands behind (starting an editor sign-in).
func (t *throttle) chargeAddr(ctx context.Context, addr string) time.Duration {
	addr = connlimit.Key(addr)
	if t.shared != nil {
		_, ad := t.budgets("", addr)
		if wait, err := t.shared.ChargeAttempt(ctx, ad); err == nil {
			return wait
		}
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.get(t.addrs, addr, t.addrBurst, now)
	tokens := b.at(now, t.addrRefill, t.addrBurst)
	if tokens < 1 {
		return time.Duration((1 - tokens) * float64(t.addrRefill))
	}
	b.tokens, b.last = tokens-1, now
	return 0
}

// refund gives back a charged attempt that was not a failed guess: a
// successful login (which also forgets the account's failures) or one
// that could not be checked (the server was busy).
func (t *throttle) refund(ctx context.Context, account, addr string, forget bool) {
	account, addr = strings.ToLower(account), connlimit.Key(addr)
	if t.shared != nil {
		acc, ad := t.budgets(account, addr)
		if t.shared.RefundAttempt(ctx, acc, forget) == nil && t.shared.RefundAttempt(ctx, ad, false) == nil {
			return
		}
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if forget {
		delete(t.accounts, account)
	} else if b := t.accounts[account]; b != nil {
		b.tokens, b.last = math.Min(accountBurst, b.at(now, accountRefill, accountBurst)+1), now
	}
	if b := t.addrs[addr]; b != nil {
		b.tokens, b.last = math.Min(float64(t.addrBurst), b.at(now, t.addrRefill, t.addrBurst)+1), now
	}
}

// get returns key's bucket, making a full one. A full map first forgets the
// tenth of its budgets closest to full (at a flood of new keys, one sort per
// thousand keys, not a scan per key). t.mu is held.
func (t *throttle) get(m map[string]*bucket, key string, burst int, now time.Time) *bucket {
	if b := m[key]; b != nil {
		return b
	}
	if len(m) >= maxThrottled {
		evictFullest(m, now, maxThrottled/10)
	}
	b := &bucket{tokens: float64(burst), last: now}
	m[key] = b
	return b
}

// evictFullest forgets the n budgets closest to full, so lockouts (empty
// budgets) are the last thing forgotten. Budgets refill at different paces
// per map but alike within one, so tokens plus the seconds since the last
// charge orders them well enough.
func evictFullest(m map[string]*bucket, now time.Time, n int) {
	type scored struct {
		key   string
		score float64
	}
	all := make([]scored, 0, len(m))
	for k, b := range m {
		all = append(all, scored{k, b.tokens + now.Sub(b.last).Seconds()})
	}
	slices.SortFunc(all, func(a, b scored) int { return cmp.Compare(b.score, a.score) })
	for _, s := range all[:min(n, len(all))] {
		delete(m, s.key)
	}
}

// retrySeconds is the Retry-After value of d: whole seconds, at least 1.
func retrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
