package llama

import (
	"time"

	"github.com/servalhq/serval/server/engine"
)

// The wait queue's policy (docs/engine.md, "Scheduling under overload").
// An editor user only cares about the request for where they are now, so:
//
//   - one place per client and session: a newer request from the same
//     editor (engine.Request.Client and Session) replaces its waiting one
//     (ErrSuperseded);
//   - a request that waited longer than Config.MaxWait is dropped
//     (ErrQueueTimeout), as is one whose caller went away;
//   - when a slot frees, the best waiting request takes it: the higher
//     priority; then the client holding fewer slots; then a settled request
//     (one its client has not replaced for Config.SettleTime: the user
//     stopped typing and is looking for a suggestion) before one the client
//     is still replacing key by key; then the client served least recently
//     (round robin, so one busy user cannot starve thirty others); then
//     the newest. A request taken before it settled does not count as its
//     client's turn (it only runs when no settled request waits); among
//     clients with equal turns, the one that got no slot at all, or got
//     one longest ago, goes first;
//   - a full queue admits a newcomer only by evicting a waiting request that
//     ranks below it on priority, slots held and last service
//     (ErrQueueFull for the loser either way): the places go to the clients
//     served least recently;
//   - a request of a higher priority that finds no free slot takes the slot
//     of a running lower one (ErrPreempted), so a warm-up never delays a user.

// Defaults of the queue policy.
const (
	defaultMaxWait    = 2 * time.Second
	defaultSettleTime = 200 * time.Millisecond
	// servedMemory is how long a client's last service is remembered for
	// the round robin; longer than any queue wait, so forgetting it only
	// ranks a client as never served after it has been idle that long.
	servedMemory = time.Minute
)

// clientOf is j's client key for the queue; "" (a client of its own) never
// matches another.
func clientOf(j *job) string { return j.req.Client }

// slotsHeld counts the slots running jobs of client. e.mu is held.
func (e *Engine) slotsHeld(client string) int {
	if client == "" {
		return 0
	}
	n := 0
	for _, s := range e.slots {
		if s.job != nil && clientOf(s.job) == client {
			n++
		}
	}
	return n
}

// service is what the round robin remembers of a client: when it last got
// a slot, and when it last had its turn (a slot for a settled request, or
// for any request while nothing waited).
type service struct{ slot, turn time.Time }

// lastServedAt is when client last got a slot; zero when never (or not
// for servedMemory). e.mu is held.
func (e *Engine) lastServedAt(client string) time.Time {
	if client == "" {
		return time.Time{}
	}
	return e.served[client].slot
}

// turnAt is when client last had its turn, the round robin's order; zero
// when never (or not for servedMemory). e.mu is held.
func (e *Engine) turnAt(client string) time.Time {
	if client == "" {
		return time.Time{}
	}
	return e.served[client].turn
}

// ranksBefore reports whether waiting job a should get a slot before b.
// dispatch adds the tests that only order the queue: settled first, then
// newest. Admission leaves them out: a newcomer has not had the time to
// settle, and being newer earns no place in a full queue. e.mu is held.
func (e *Engine) ranksBefore(a, b *job, now time.Time, dispatch bool) bool {
	if a.req.Priority != b.req.Priority {
		return a.req.Priority > b.req.Priority
	}
	if ha, hb := e.slotsHeld(clientOf(a)), e.slotsHeld(clientOf(b)); ha != hb {
		return ha < hb
	}
	if dispatch {
		sa, sb := now.Sub(a.enqueued) >= e.cfg.SettleTime, now.Sub(b.enqueued) >= e.cfg.SettleTime
		if sa != sb {
			return sa
		}
	}
	if la, lb := e.turnAt(clientOf(a)), e.turnAt(clientOf(b)); !la.Equal(lb) {
		return la.Before(lb)
	}
	// Equal turns (most often none yet): the client that got no slot at
	// all, or got one longest ago, first. A client answered only mid-burst
	// has had no turn either, and under overload such clients filled the
	// queue as equals of the clients never answered, who then found it full
	// at every try (3 of 439 typists got nothing in 60 s at 10× capacity,
	// 95 % of their requests refused).
	if la, lb := e.lastServedAt(clientOf(a)), e.lastServedAt(clientOf(b)); !la.Equal(lb) {
		return la.Before(lb)
	}
	return dispatch && a.enqueued.After(b.enqueued)
}

// admit places j: on a free slot, in place of its client's waiting request,
// in the queue, or in place of a worse waiting request. It returns the jobs
// pushed out (to be finished, with their errors, once e.mu is released) and
// whether j was admitted. e.mu is held.
func (e *Engine) admit(j *job, now time.Time) (out []dropped, ok bool) {
	if s := e.bestFreeSlot(j); s != nil && len(e.queue) == 0 {
		e.assign(s, j, now, true)
		return nil, true
	}
	e.preemptFor(j)
	if c := clientOf(j); c != "" {
		for i, q := range e.queue {
			if clientOf(q) == c && q.req.Session == j.req.Session && q.req.Priority == j.req.Priority {
				e.queue[i] = j
				return []dropped{{q, engine.ErrSuperseded}}, true
			}
		}
	}
	if len(e.queue) < e.cfg.MaxQueue {
		e.queue = append(e.queue, j)
		return nil, true
	}
	if len(e.queue) == 0 {
		return nil, false // no queue at all
	}
	worst := 0
	for i, q := range e.queue {
		if e.ranksBefore(e.queue[worst], q, now, false) || !e.ranksBefore(q, e.queue[worst], now, false) && q.enqueued.Before(e.queue[worst].enqueued) {
			worst = i
		}
	}
	if !e.ranksBefore(j, e.queue[worst], now, false) {
		return nil, false
	}
	victim := e.queue[worst]
	e.queue[worst] = j
	return []dropped{{victim, engine.ErrQueueFull}}, true
}

// preemptFor asks the lowest-priority running job below j's priority to
// give up its slot when no slot is free; the worker releases it at its next
// step and then serves the queue. e.mu is held.
func (e *Engine) preemptFor(j *job) {
	var victim *job
	for _, s := range e.slots {
		if s.job == nil {
			return // a slot is free (or about to be taken from the queue)
		}
		if s.job.req.Priority < j.req.Priority && !s.job.preempted.Load() &&
			(victim == nil || s.job.req.Priority < victim.req.Priority) {
			victim = s.job
		}
	}
	if victim != nil {
		victim.preempted.Store(true)
		victim.cancelled.Store(true)
	}
}

// dispatch drops expired waiting jobs and hands free slots to the best
// waiting ones. It returns the dropped jobs. e.mu is held.
func (e *Engine) dispatch(now time.Time) []dropped {
	var out []dropped
	kept := e.queue[:0]
	for _, q := range e.queue {
		if now.Sub(q.enqueued) > e.cfg.MaxWait {
			out = append(out, dropped{q, engine.ErrQueueTimeout})
			continue
		}
		kept = append(kept, q)
	}
	clear(e.queue[len(kept):])
	e.queue = kept
	for len(e.queue) > 0 {
		best := 0
		for i, q := range e.queue {
			if i != best && e.ranksBefore(q, e.queue[best], now, true) {
				best = i
			}
		}
		s := e.bestFreeSlot(e.queue[best])
		if s == nil {
			break
		}
		// A request still being replaced key by key gets the slot only when
		// no settled one waits (the slot would idle otherwise), and it does
		// not use its client's turn: the user typed on, and the request they
		// will look at when they pause keeps its place in the round robin.
		e.assign(s, e.queue[best], now, now.Sub(e.queue[best].enqueued) >= e.cfg.SettleTime)
		e.queue = append(e.queue[:best], e.queue[best+1:]...)
	}
	return out
}

// assign gives slot s to j and notes the service for the round robin; turn
// says whether it counts as the client's turn. e.mu is held.
func (e *Engine) assign(s *slot, j *job, now time.Time, turn bool) {
	s.job = j
	c := clientOf(j)
	if c == "" {
		return
	}
	if e.served == nil {
		e.served = map[string]service{}
	}
	sv := e.served[c]
	sv.slot = now
	if turn {
		sv.turn = now
	}
	e.served[c] = sv
	if len(e.served) > 4*(e.cfg.MaxQueue+len(e.slots)) {
		for k, sv := range e.served {
			if now.Sub(sv.slot) > servedMemory {
				delete(e.served, k)
			}
		}
	}
}

// dropped is a job pushed out of the queue and the error it ends with.
type dropped struct {
	j   *job
	err error
}

// finishDropped ends jobs pushed out of the queue; e.mu must not be held.
func finishDropped(ds []dropped) {
	for _, d := range ds {
		d.j.finish(engine.Usage{PromptTokens: len(d.j.tokens), QueueWait: time.Since(d.j.enqueued), StopReason: engine.StopCancelled}, d.err)
	}
}
