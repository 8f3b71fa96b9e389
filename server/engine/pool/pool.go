// Package pool spreads one model's requests over several upstreams (vLLM,
// Ollama, llama.cpp servers, other serval instances): it routes each request
// to the least-loaded healthy member, retries once on another member when one
// fails before sending any text, takes a failing member out for a growing
// backoff (a circuit breaker), and puts it back when its health check passes.
package pool

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/servalhq/serval/server/engine"
)

// Member is one upstream of a pool.
type Member interface {
	engine.Engine
	engine.HealthChecker
	Name() string
	InFlight() int
}

// Config tunes health checks and the circuit breaker.
type Config struct {
	CheckInterval time.Duration // between health checks of healthy members; 0: 10 s
	CheckTimeout  time.Duration // per check; 0: 3 s
	Backoff       time.Duration // first time out after a failure; 0: 2 s
	MaxBackoff    time.Duration // 0: 1 min
}

// Pool is an engine.Engine over members.
type Pool struct {
	cfg     Config
	members []*member
	stop    context.CancelFunc
	done    chan struct{}
}

type member struct {
	Member
	mu        sync.Mutex // guards the fields below
	healthy   bool
	failures  int       // consecutive failures, for the backoff
	downUntil time.Time // no traffic and no check before this
	lastErr   string
}

// New starts a pool: it checks every member once (bounded by CheckTimeout) so
// that health is known before the first request, then keeps checking in the
// background until Close.
func New(ctx context.Context, members []Member, cfg Config) (*Pool, error) {
	if len(members) == 0 {
		return nil, errors.New("pool: no upstreams")
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = 10 * time.Second
	}
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = 3 * time.Second
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 2 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Minute
	}
	p := &Pool{cfg: cfg, done: make(chan struct{})}
	for _, m := range members {
		p.members = append(p.members, &member{Member: m})
	}
	p.checkAll(ctx, true)
	loopCtx, stop := context.WithCancel(context.Background())
	p.stop = stop
	go p.loop(loopCtx)
	return p, nil
}

func (p *Pool) loop(ctx context.Context) {
	defer close(p.done)
	// Tick faster than CheckInterval so a member whose backoff ends is
	// rechecked promptly; checkAll skips members that are not due.
	tick := time.NewTicker(min(p.cfg.CheckInterval, p.cfg.Backoff) / 2)
	defer tick.Stop()
	lastFull := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			full := time.Since(lastFull) >= p.cfg.CheckInterval
			if full {
				lastFull = time.Now()
			}
			p.checkAll(ctx, full)
		}
	}
}

// checkAll checks, concurrently, the down members whose backoff has ended
// and, when full, the healthy ones too.
func (p *Pool) checkAll(ctx context.Context, full bool) {
	var wg sync.WaitGroup
	now := time.Now()
	for _, m := range p.members {
		m.mu.Lock()
		due := (m.healthy && full) || (!m.healthy && !now.Before(m.downUntil))
		m.mu.Unlock()
		if !due {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, p.cfg.CheckTimeout)
			defer cancel()
			if err := m.Check(cctx); err != nil {
				if ctx.Err() == nil {
					p.markDown(m, err)
				}
				return
			}
			m.mu.Lock()
			m.healthy, m.failures, m.lastErr = true, 0, ""
			m.mu.Unlock()
		}()
	}
	wg.Wait()
}

// markDown opens m's circuit for a backoff that doubles per consecutive failure.
func (p *Pool) markDown(m *member, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.healthy = false
	m.failures++
	backoff := p.cfg.Backoff << min(m.failures-1, 16)
	m.downUntil = time.Now().Add(min(backoff, p.cfg.MaxBackoff))
	m.lastErr = err.Error()
}

// pick returns the healthy member with the fewest requests in flight, skipping tried.
func (p *Pool) pick(tried *member) *member {
	var best *member
	for _, m := range p.members {
		m.mu.Lock()
		ok := m.healthy
		m.mu.Unlock()
		if !ok || m == tried {
			continue
		}
		if best == nil || m.InFlight() < best.InFlight() {
			best = m
		}
	}
	return best
}

// Generate implements engine.Engine.
func (p *Pool) Generate(ctx context.Context, req engine.Request, emit engine.Emit) (engine.Usage, error) {
	return p.route(ctx, emit, func(ctx context.Context, m *member, emit engine.Emit) (engine.Usage, error) {
		return m.Generate(ctx, req, emit)
	})
}

// Chat implements engine.ChatEngine for members that can chat.
func (p *Pool) Chat(ctx context.Context, req engine.ChatRequest, emit engine.Emit) (engine.Usage, error) {
	return p.route(ctx, emit, func(ctx context.Context, m *member, emit engine.Emit) (engine.Usage, error) {
		chat, ok := m.Member.(engine.ChatEngine)
		if !ok {
			return engine.Usage{}, fmt.Errorf("pool: upstream %s cannot chat", m.Name())
		}
		return chat.Chat(ctx, req, emit)
	})
}

// route runs call on the best member and, when it fails before any text was
// emitted, once more on another one. Each try is a "pool member" span
// naming the member.
func (p *Pool) route(ctx context.Context, emit engine.Emit, call func(context.Context, *member, engine.Emit) (engine.Usage, error)) (engine.Usage, error) {
	var tried *member
	var firstErr error
	for attempt := 0; attempt < 2; attempt++ {
		m := p.pick(tried)
		if m == nil {
			break
		}
		sent := false
		var emitErr error
		mctx, endSpan := engine.TraceUpstream(ctx, "pool member", m.Name(), "")
		usage, err := call(mctx, m, func(text string) error {
			sent = true
			emitErr = emit(text)
			return emitErr
		})
		usage.Upstream = m.Name()
		endSpan(usage, err)
		if err == nil || emitErr != nil || ctx.Err() != nil {
			return usage, err
		}
		if !errors.Is(err, engine.ErrUnavailable) && !sent {
			// The upstream answered but refused this request (a 4xx): another
			// member would refuse it too.
			return usage, err
		}
		p.markDown(m, err)
		if sent {
			return usage, err
		}
		if firstErr == nil {
			firstErr = err
		}
		tried = m
	}
	if firstErr != nil {
		return engine.Usage{}, fmt.Errorf("pool: %w", firstErr)
	}
	return engine.Usage{}, fmt.Errorf("pool: %w (%s)", engine.ErrUnavailable, p.downSummary())
}

func (p *Pool) downSummary() string {
	s := ""
	for _, m := range p.members {
		m.mu.Lock()
		if s != "" {
			s += "; "
		}
		s += fmt.Sprintf("%s: %s", m.Name(), m.lastErr)
		m.mu.Unlock()
	}
	return s
}

// Info implements engine.Engine: the members' states, for /v1/health and /metrics.
func (p *Pool) Info() engine.Info {
	info := engine.Info{Device: "remote"}
	for _, m := range p.members {
		mi := m.Member.Info()
		if info.Model == "" {
			info.Model = mi.Model
		}
		m.mu.Lock()
		u := engine.UpstreamInfo{Name: m.Name(), Healthy: m.healthy, InFlight: m.InFlight(), LastError: m.lastErr}
		m.mu.Unlock()
		if len(mi.Upstreams) == 1 {
			u.URL = mi.Upstreams[0].URL
		}
		info.Busy += u.InFlight
		info.Upstreams = append(info.Upstreams, u)
	}
	return info
}

// Check implements engine.HealthChecker: nil while any member is healthy.
func (p *Pool) Check(context.Context) error {
	if p.pick(nil) != nil {
		return nil
	}
	return fmt.Errorf("pool: %w (%s)", engine.ErrUnavailable, p.downSummary())
}

// Close stops the health checks and closes the members.
func (p *Pool) Close() error {
	p.stop()
	<-p.done
	var errs []error
	for _, m := range p.members {
		errs = append(errs, m.Close())
	}
	return errors.Join(errs...)
}
