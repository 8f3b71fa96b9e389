package main

import (
	"fmt"

	"github.com/servalhq/serval/server/backend"
	"github.com/servalhq/serval/server/engine"
)

// checkFIMVocabulary refuses to serve an in-process model whose template
// was not chosen by anything (no --prompt-template, no registry template, no
// FIM markers found in its vocabulary) when the fallback template's first
// marker is not one token of its vocabulary: every prompt would then spell
// the marker out as text and the model would complete nonsense.
func checkFIMVocabulary(m *backend.Model, override string, info engine.Info, chosen string) error {
	if m == nil || m.Tokenizer == nil || override != "" || m.Entry.Template != "" || info.FIMTemplate != "" {
		return nil
	}
	const marker = "<|fim_prefix|>" // the fallback "qwen" template's first marker
	if chosen != "qwen" || m.Tokenizer.CountTokens(marker) == 1 {
		return nil
	}
	return fmt.Errorf("%w: model %s has no fill-in-the-middle tokens Serval recognises (%s is not in its vocabulary, "+
		"nor the markers of the other built-in templates): it is not a FIM code model, or its format is unknown. "+
		"Pass --prompt-template with its format (a built-in name or a literal with {prefix} and {suffix})",
		errUsage, m.Describe(), marker)
}
