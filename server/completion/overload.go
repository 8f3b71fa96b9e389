package completion

import (
	"sync"
	"time"

	"github.com/servalhq/serval/server/engine"
)

// OverloadPromptTokens caps a completion's prompt (prefix, suffix and
// context together) while the engine is overloaded (see overloaded): about
// what Tabby's agent sends (20 lines on each side), a quarter to a sixth of
// a full prompt. Over capacity most users would otherwise get nothing; a
// shorter prompt is evaluated sooner and makes each generated token cheaper
// (it attends to fewer), so more of them get a suggestion, with less
// context. docs/engine.md has the measurements.
const OverloadPromptTokens = 512

// overloadWait is the expected wait for the engine from which prompts are
// capped: past it, a typist's pause (about a second) is mostly over before
// the request even starts.
const overloadWait = 500 * time.Millisecond

// overloaded reports whether a request now would wait overloadWait or more
// for the engine: the requests queued, per slot, times the recent engine
// time of a completion. A queue of a few short jobs is not overload (on a
// small model a completion takes tens of milliseconds); on a large one two
// waiting jobs can be.
func (s *Service) overloaded() bool {
	info := s.engine.Info()
	if info.Slots <= 0 || info.Queued == 0 {
		return false
	}
	return time.Duration(info.Queued)*s.jobs.mean()/time.Duration(info.Slots) >= overloadWait
}

// jobTime is a moving average of the engine time (prompt evaluation and
// generation) of recent completions.
type jobTime struct {
	mu  sync.Mutex
	avg time.Duration
}

// observe adds a finished completion's engine time.
func (j *jobTime) observe(u engine.Usage) {
	d := u.PromptEval + u.Generation
	if d <= 0 {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.avg == 0 {
		j.avg = d
	} else {
		j.avg += (d - j.avg) / 8
	}
}

func (j *jobTime) mean() time.Duration {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.avg
}
