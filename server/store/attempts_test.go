package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestSharedAttemptBudgets: two stores on one database (two replicas) charge
// one budget; a charge takes from all its budgets or from none; a refund
// gives one back and forget all; concurrent charges never overdraw.
func TestSharedAttemptBudgets(t *testing.T) {
	ctx := context.Background()
	replicas := twoReplicas(t)
	account := Budget{Key: "login account alice", Every: 30 * time.Second, Burst: 3}
	addr := Budget{Key: "login addr 192.0.2.1", Every: 10 * time.Second, Burst: 5}
	charge := func(i int, budgets ...Budget) time.Duration {
		t.Helper()
		wait, err := replicas[i%2].ChargeAttempt(ctx, budgets...)
		if err != nil {
			t.Fatal(err)
		}
		return wait
	}
	for i := range 3 {
		if wait := charge(i, account, addr); wait != 0 {
			t.Fatalf("attempt %d refused (%v) within the burst of 3", i+1, wait)
		}
	}
	wait := charge(3, account, addr)
	if wait <= 0 || wait > 30*time.Second {
		t.Fatalf("the fourth attempt on two replicas: wait %v, want refused for up to 30 s", wait)
	}
	// The refused charge took nothing from the address: 2 of its 5 are left.
	for i := range 2 {
		if wait := charge(i, addr); wait != 0 {
			t.Fatalf("the address's attempt %d refused: the refused charge took from it", i+1)
		}
	}
	if charge(0, addr) == 0 {
		t.Fatal("the address's sixth attempt allowed")
	}
	// A refund gives one back, on either replica; forget gives all back.
	if err := replicas[1].RefundAttempt(ctx, account, false); err != nil {
		t.Fatal(err)
	}
	if charge(0, account) != 0 || charge(1, account) == 0 {
		t.Fatal("a refund gave back other than one attempt")
	}
	if err := replicas[0].RefundAttempt(ctx, account, true); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if charge(i, account) != 0 {
			t.Fatal("forgetting did not give the whole burst back")
		}
	}

	// 16 charges at once over both replicas: exactly the burst passes.
	fresh := Budget{Key: "device account bob", Every: time.Minute, Burst: 5}
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wait, err := replicas[i%2].ChargeAttempt(ctx, fresh)
			if err != nil {
				t.Error(err)
				return
			}
			if wait == 0 {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if allowed != 5 {
		t.Fatalf("%d of 16 concurrent attempts allowed, want the burst of 5", allowed)
	}

	lite, _ := openTemp(t)
	if _, err := lite.ChargeAttempt(ctx, account); !errors.Is(err, ErrNoSharedLimits) {
		t.Fatalf("SQLite: %v", err)
	}
}
