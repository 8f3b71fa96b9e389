package completion

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/prompt"
)

// Bounds of the decoding settings a client may ask for, on every route.
const (
	MaxTemperature = 2.0
	MaxOutputLimit = 4096
)

// Sampling is the decoding settings a client asked for; nil (or 0 for
// MaxTokens) leaves the route's default.
type Sampling struct {
	MaxTokens   int
	Temperature *float32
	TopP        *float32
}

// Validate checks s against the bounds every route shares; a
// *prompt.FieldError names the offending field.
func (s Sampling) Validate() error {
	if s.Temperature != nil && !(*s.Temperature >= 0 && *s.Temperature <= MaxTemperature) {
		return &prompt.FieldError{Field: "temperature", Reason: fmt.Sprintf("must be between 0 and %g", MaxTemperature)}
	}
	if s.TopP != nil && !(*s.TopP >= 0 && *s.TopP <= 1) {
		return &prompt.FieldError{Field: "top_p", Reason: "must be between 0 and 1"}
	}
	if s.MaxTokens < 0 || s.MaxTokens > MaxOutputLimit {
		return &prompt.FieldError{Field: "max_tokens", Reason: fmt.Sprintf("must be between 0 and %d", MaxOutputLimit)}
	}
	return nil
}

// errStopWord ends the engine's generation when a stop word completed.
var errStopWord = errors.New("completion: stop word reached")

// Generate is the one generation step every route shares: it runs the
// engine through run and matches stops on the streamed text. out receives
// each piece of text once no stop word can begin in it; a stop word and
// what follows it never reach out, and text held back at the end is passed
// on when generation ends by itself. It returns the engine's usage
// (StopReason "stop" when a stop word ended it), the stop word matched ("" if
// none) and the first error of run or out; when ctx ended, its error is
// wrapped in. run gets the context of the "generate" span, so that an
// engine's spans (a pool's member, an upstream call) nest under it.
func Generate(ctx context.Context, stops []string, run func(context.Context, engine.Emit) (engine.Usage, error), out func(text string) error) (u engine.Usage, stopWord string, err error) {
	ctx, span := tracer.Start(ctx, "generate")
	defer func() {
		engine.TracePhases(ctx, time.Now(), u)
		if stopWord != "" {
			span.SetAttributes(attrStopWordMatched.Bool(true))
		}
		engine.EndSpan(span, u, err)
	}()
	matcher := prompt.NewStopMatcher(stops)
	send := func(text string) error {
		if text == "" {
			return nil
		}
		return out(text)
	}
	usage, err := run(ctx, func(delta string) error {
		text, stopped := matcher.Push(delta)
		if err := send(text); err != nil {
			return err
		}
		if stopped {
			return errStopWord
		}
		return nil
	})
	switch {
	case errors.Is(err, errStopWord):
		usage.StopReason = engine.StopWord
	case err != nil:
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%v)", ctxErr, err)
		}
		return usage, "", err
	default:
		if err := send(matcher.Flush()); err != nil {
			return usage, "", err
		}
	}
	return usage, matcher.Matched(), nil
}
