package completion

import (
	"context"

	"github.com/servalhq/serval/server/engine"
)

// Warm evaluates the prompt req would get into the engine's prompt cache
// and generates nothing (a warm-up before the user's first keystroke at a
// place). The prompt is built exactly as Answer builds it, so a completion
// asked for at the same place reuses all of it and one asked a few
// characters later most of it. It runs at engine.PriorityWarmup: it waits
// only for a slot nobody else wants and gives it up to any real request.
// An engine that keeps no prompts between requests (engine.PromptCache) is
// not asked at all: warmed is false.
func (s *Service) Warm(ctx context.Context, req *Request) (u engine.Usage, warmed bool, err error) {
	if pc, ok := s.engine.(engine.PromptCache); !ok || !pc.CachesPrompts() {
		return engine.Usage{}, false, nil
	}
	p, err := s.prompts.Build(&req.Request)
	if err != nil {
		return engine.Usage{}, false, err
	}
	u, err = s.engine.Generate(ctx, engine.Request{
		Prompt:     p.Text,
		NumCtx:     s.numCtx,
		Client:     req.Client,
		Session:    req.Session,
		Priority:   engine.PriorityWarmup,
		PromptOnly: true,
	}, func(string) error { return nil })
	return u, err == nil, err
}
