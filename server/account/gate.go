package account

import (
	"bufio"
	"context"
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Each argon2id hash or check allocates its memory cost (19 MiB) for its
// ~30 ms. Unbounded, 60 concurrent logins took 1.1 GB and 1,000 would kill a
// small machine, with no account needed. Check and Hash therefore run at
// most gateSlots at once; a caller waits at most GateWait for a slot, then
// gets ErrBusy (the web app answers 503 with Retry-After).
//
// gateSlots is derived from memory: a sixteenth of the machine's (or the
// cgroup's) memory divided by the cost of one hash, and never more than
// two per CPU, since more at once only queue for the CPU. On a 2-core
// machine that is 4 slots: at most 76 MiB of argon2 memory at any time.

// GateWait is the longest a password check waits for a slot.
const GateWait = 2 * time.Second

// ErrBusy means every password-hashing slot stayed taken for GateWait.
var ErrBusy = errors.New("account: too many password checks at once; retry in a moment")

var gate = sync.OnceValue(func() chan struct{} { return make(chan struct{}, gateSlots()) })

// GateSlots is how many password hashes or checks may run at once.
func GateSlots() int { return cap(gate()) }

func gateSlots() int {
	perHash := uint64(argonMemory) << 10
	n := 2 * runtime.NumCPU()
	if mem := memoryLimit(); mem > 0 {
		n = min(n, int(mem/16/perHash))
	}
	return max(1, n)
}

// memoryLimit is the memory this process may use: the cgroup's limit or the
// machine's total, whichever is less; 0 when unknown (not Linux).
func memoryLimit() uint64 {
	var limit uint64
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				limit = kb << 10
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && (limit == 0 || v < limit) {
			limit = v
		}
	}
	return limit
}

// acquire takes a slot, waiting at most GateWait; release gives it back.
func acquire(ctx context.Context) (release func(), err error) {
	g := gate()
	select {
	case g <- struct{}{}:
		return func() { <-g }, nil
	default:
	}
	t := time.NewTimer(GateWait)
	defer t.Stop()
	select {
	case g <- struct{}{}:
		return func() { <-g }, nil
	case <-t.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Check is CheckPasswordOrDummy within the bound on concurrent hashing:
// ErrBusy (or ctx's error) when no slot freed in time, and then nothing
// was checked.
func Check(ctx context.Context, hash, password string) (bool, error) {
	release, err := acquire(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	return CheckPasswordOrDummy(hash, password), nil
}

// Hash is HashPassword within the bound on concurrent hashing.
func Hash(ctx context.Context, password string) (string, error) {
	release, err := acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return HashPassword(password)
}
