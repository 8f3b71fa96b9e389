package web

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// L10: a flood of distinct keys past maxThrottled forgets the fullest
// budgets, never a lockout (it used to clear the whole map).
func TestThrottleFloodKeepsLockouts(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	th := newThrottle(func() time.Time { return now })
	for range accountBurst {
		if wait := th.charge(context.Background(), "alice", "192.0.2.1"); wait != 0 {
			t.Fatalf("charge refused early: %v", wait)
		}
	}
	if th.charge(context.Background(), "alice", "192.0.2.1") == 0 {
		t.Fatal("alice not locked out after her budget")
	}
	for i := range 2 * maxThrottled {
		th.charge(context.Background(), fmt.Sprintf("user%d", i), fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
	}
	if len(th.accounts) > maxThrottled || len(th.addrs) > maxThrottled {
		t.Errorf("maps grew to %d and %d keys (bound %d)", len(th.accounts), len(th.addrs), maxThrottled)
	}
	if th.charge(context.Background(), "alice", "198.51.100.7") == 0 {
		t.Error("the flood of keys reset alice's lockout")
	}
}
