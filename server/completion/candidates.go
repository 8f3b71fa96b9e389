package completion

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/prompt"
)

// answerCandidates generates n candidates of ereq into res: each matched
// against the stop words on its own (a stop word ends that candidate
// only), the first one's text in res.Text as for one completion. res.Usage
// is the first candidate's, with the tokens of all counted and the
// longest generation time. A candidate that failed is left empty; only
// when every one failed is the first one's error returned.
func (s *Service) answerCandidates(ctx context.Context, ereq engine.Request, n int, res *Result) error {
	matchers := make([]*prompt.StopMatcher, n)
	texts := make([]strings.Builder, n)
	for i := range matchers {
		matchers[i] = prompt.NewStopMatcher(ereq.Stop)
	}
	results, err := engine.GenerateCandidates(ctx, s.engine, ereq, n, func(i int, delta string) error {
		text, stopped := matchers[i].Push(delta)
		texts[i].WriteString(text)
		if stopped {
			return errStopWord
		}
		return nil
	})
	if err != nil {
		// No candidate's usage came back; the metrics still count why.
		res.Usage.StopReason = engine.StopError
		if ctxErr := ctx.Err(); ctxErr != nil {
			res.Usage.StopReason = engine.StopCancelled
			if !errors.Is(err, ctxErr) {
				err = fmt.Errorf("%w (%v)", ctxErr, err)
			}
		}
		return err
	}
	res.Candidates = make([]string, len(results))
	var firstErr error
	ok := 0
	for i, r := range results {
		switch {
		case errors.Is(r.Err, errStopWord):
			r.Usage.StopReason = engine.StopWord
		case r.Err != nil:
			firstErr = cmpOr(firstErr, r.Err)
			continue
		default:
			texts[i].WriteString(matchers[i].Flush())
		}
		res.Candidates[i] = texts[i].String()
		ok++
		if i > 0 {
			res.Usage.GeneratedTokens += r.Usage.GeneratedTokens
			res.Usage.Generation = max(res.Usage.Generation, r.Usage.Generation)
		}
	}
	first := results[0].Usage
	first.GeneratedTokens += res.Usage.GeneratedTokens
	first.Generation = max(first.Generation, res.Usage.Generation)
	if errors.Is(results[0].Err, errStopWord) {
		first.StopReason = engine.StopWord
		res.StopWord = matchers[0].Matched()
	}
	res.Usage = first
	res.Text = res.Candidates[0]
	if ok == 0 {
		return firstErr
	}
	return nil
}

// cmpOr returns a unless it is nil, else b.
func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
