// Package prompt turns a completion Request into the text a model
// completes: it owns the fill-in-the-middle (FIM) templates, the token budget
// that decides how much prefix, suffix and snippet context fits, the
// per-language stop words, and StopMatcher, which applies stop words to a
// streamed generation.
//
// The Builder cuts prompts so that consecutive keystrokes produce prompts
// with the same beginning: engines reuse the KV cache of the longest common
// token prefix, so a stable prompt start is the main latency lever on CPU.
package prompt

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Template is a fill-in-the-middle prompt format. The zero Template is not
// usable; get one from LookupTemplate, ParseTemplate or ChooseTemplate.
type Template struct {
	// Name is the registry name ("qwen", "starcoder", ...) or "custom" for a
	// template given literally.
	Name string
	// Format is the template text with {prefix} and {suffix} placeholders.
	Format string
	// SpecialTokens are the model's control tokens that may appear in its
	// output (FIM markers, end of text, file separators). They are stop words,
	// and the budget never cuts through them.
	SpecialTokens []string

	// parts is Format split around the placeholders, so that rendering never
	// re-scans user text for placeholders.
	parts []templatePart
}

type templatePart struct {
	literal     string
	placeholder string // "prefix", "suffix" or "" for a literal
}

const (
	placeholderPrefix = "{prefix}"
	placeholderSuffix = "{suffix}"
)

// builtinTemplates are the FIM formats of popular code models (see
// shared/reference/tabby-compat.md).
var builtinTemplates = map[string]struct {
	format  string
	special []string
}{
	// Qwen2.5-Coder, CodeGemma.
	"qwen": {
		format: "<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>",
		special: []string{"<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|fim_pad|>",
			"<|endoftext|>", "<|file_sep|>", "<|repo_name|>", "<|im_start|>", "<|im_end|>",
			"<|file_separator|>"},
	},
	// StarCoder 1B/3B/7B, StarCoder2, CodeQwen-7B.
	"starcoder": {
		format: "<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>",
		special: []string{"<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<fim_pad>",
			"<|endoftext|>", "<file_sep>", "<filename>", "<reponame>"},
	},
	// StarCoder in suffix-prefix-middle order, which it was trained on as
	// well (FIM paper's SPM variant): the suffix comes first, so while the
	// user types only the end of the prompt changes and an engine's prompt
	// cache reuses nearly all of it.
	"starcoder-spm": {
		format: "<fim_prefix><fim_suffix>{suffix}<fim_middle>{prefix}",
		special: []string{"<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<fim_pad>",
			"<|endoftext|>", "<file_sep>", "<filename>", "<reponame>"},
	},
	// CodeLlama 7B/13B.
	"codellama": {
		format:  "<PRE> {prefix} <SUF>{suffix} <MID>",
		special: []string{"<PRE>", "<SUF>", "<MID>", "<EOT>", "</s>"},
	},
	// CodeLlama's suffix-first infilling format (its suffix_first option).
	"codellama-spm": {
		format:  "<PRE> <SUF>{suffix} <MID> {prefix}",
		special: []string{"<PRE>", "<SUF>", "<MID>", "<EOT>", "</s>"},
	},
	// DeepSeek-Coder: full-width vertical bars and U+2581 (lower one eighth block).
	"deepseek": {
		format: "<｜fim▁begin｜>{prefix}<｜fim▁hole｜>{suffix}<｜fim▁end｜>",
		special: []string{"<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>",
			"<｜end▁of▁sentence｜>", "<｜begin▁of▁sentence｜>", "<|EOT|>"},
	},
	// Codestral: suffix first.
	"codestral": {
		format:  "[SUFFIX]{suffix}[PREFIX]{prefix}",
		special: []string{"[SUFFIX]", "[PREFIX]", "[MIDDLE]", "</s>"},
	},
}

// templateAliases map model family names to the template they use.
var templateAliases = map[string]string{
	"qwen2.5-coder":  "qwen",
	"codegemma":      "qwen",
	"starcoder2":     "starcoder",
	"codeqwen":       "starcoder",
	"deepseek-coder": "deepseek",
}

// TemplateNames lists the built-in template names, sorted.
func TemplateNames() []string {
	names := make([]string, 0, len(builtinTemplates))
	for name := range builtinTemplates {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// LookupTemplate returns the built-in template called name (case-insensitive;
// model family aliases such as "codegemma" work too).
func LookupTemplate(name string) (Template, bool) {
	key := strings.ToLower(strings.TrimSpace(name))
	if alias, ok := templateAliases[key]; ok {
		key = alias
	}
	b, ok := builtinTemplates[key]
	if !ok {
		return Template{}, false
	}
	t, err := newTemplate(key, b.format, b.special)
	if err != nil {
		// The built-in table is fixed; a bad entry is a programming error
		// that the package's tests catch.
		panic(fmt.Sprintf("prompt: built-in template %q: %v", key, err))
	}
	return t, true
}

// ParseTemplate resolves a --prompt-template value: a built-in name, or a
// literal template containing {prefix} and {suffix} exactly once each.
// A literal template's special tokens are its literal pieces that look like
// control tokens (three or more characters once trimmed).
func ParseTemplate(value string) (Template, error) {
	if t, ok := LookupTemplate(value); ok {
		return t, nil
	}
	if !strings.Contains(value, placeholderPrefix) && !strings.Contains(value, placeholderSuffix) {
		return Template{}, fmt.Errorf("prompt template %q: not a known template name (known: %s) and not a literal template with {prefix} and {suffix}",
			value, strings.Join(TemplateNames(), ", "))
	}
	t, err := newTemplate("custom", value, nil)
	if err != nil {
		return Template{}, err
	}
	for _, p := range t.parts {
		if tok := strings.TrimSpace(p.literal); p.placeholder == "" && len(tok) >= 3 {
			t.SpecialTokens = append(t.SpecialTokens, tok)
		}
	}
	return t, nil
}

func newTemplate(name, format string, special []string) (Template, error) {
	for _, ph := range []string{placeholderPrefix, placeholderSuffix} {
		if n := strings.Count(format, ph); n != 1 {
			return Template{}, fmt.Errorf("prompt template %q must contain %s exactly once (found %d)", format, ph, n)
		}
	}
	t := Template{Name: name, Format: format, SpecialTokens: special}
	rest := format
	for rest != "" {
		ip := strings.Index(rest, placeholderPrefix)
		is := strings.Index(rest, placeholderSuffix)
		next, ph := ip, "prefix"
		if next < 0 || (is >= 0 && is < next) {
			next, ph = is, "suffix"
		}
		if next < 0 {
			t.parts = append(t.parts, templatePart{literal: rest})
			break
		}
		if next > 0 {
			t.parts = append(t.parts, templatePart{literal: rest[:next]})
		}
		t.parts = append(t.parts, templatePart{placeholder: ph})
		rest = rest[next+len("{")+len(ph)+len("}"):]
	}
	return t, nil
}

// Render fills the template. Placeholders are substituted in one pass over
// the template, so "{suffix}" inside the user's prefix stays as it is.
func (t Template) Render(prefix, suffix string) string {
	var b strings.Builder
	b.Grow(len(t.Format) + len(prefix) + len(suffix))
	for _, p := range t.parts {
		switch p.placeholder {
		case "prefix":
			b.WriteString(prefix)
		case "suffix":
			b.WriteString(suffix)
		default:
			b.WriteString(p.literal)
		}
	}
	return b.String()
}

// IsZero reports whether t is the zero Template.
func (t Template) IsZero() bool { return len(t.parts) == 0 }

// fimMarkers are the token texts that identify each built-in template in a
// vocabulary: one alternative of every group must be a token. Qwen-style
// markers come first, as they are the most common.
var fimMarkers = []struct {
	name   string
	tokens [][]string
}{
	{"qwen", [][]string{{"<|fim_prefix|>"}, {"<|fim_suffix|>"}, {"<|fim_middle|>"}}},
	{"starcoder", [][]string{{"<fim_prefix>"}, {"<fim_suffix>"}, {"<fim_middle>"}}},
	{"deepseek", [][]string{{"<｜fim▁begin｜>"}, {"<｜fim▁hole｜>"}, {"<｜fim▁end｜>"}}},
	{"codestral", [][]string{{"[PREFIX]"}, {"[SUFFIX]"}}},
	{"codellama", [][]string{{"▁<PRE>", "<PRE>"}, {"▁<SUF>", "<SUF>"}, {"▁<MID>", "<MID>"}}},
}

// DetectTemplateName is the one FIM-template detector: the built-in
// template all of whose markers the model's vocabulary has (hasToken reports
// whether a text is one token, for example from tokenizer.ggml.tokens),
// else GuessTemplateName of the model's name; "" when unknown.
func DetectTemplateName(modelName string, hasToken func(text string) bool) string {
	for _, t := range fimMarkers {
		all := true
		for _, group := range t.tokens {
			all = all && slices.ContainsFunc(group, hasToken)
		}
		if all {
			return t.name
		}
	}
	return GuessTemplateName(modelName)
}

// GuessTemplateName guesses a model's template from its name or file name
// ("qwen2.5-coder-0.5b-q8_0.gguf" → "qwen"); "" when nothing matches.
func GuessTemplateName(modelName string) string {
	n := strings.ToLower(modelName)
	switch {
	case strings.Contains(n, "codeqwen"):
		return "starcoder"
	case strings.Contains(n, "qwen"), strings.Contains(n, "codegemma"):
		return "qwen"
	case strings.Contains(n, "starcoder"):
		return "starcoder"
	case strings.Contains(n, "codellama"), strings.Contains(n, "code llama"), strings.Contains(n, "code-llama"):
		return "codellama"
	case strings.Contains(n, "deepseek"):
		return "deepseek"
	case strings.Contains(n, "codestral"):
		return "codestral"
	}
	return ""
}

// ChooseTemplate applies the precedence of the server's template choice:
// an explicit --prompt-template override, then the registry entry's template
// name, then the template detected from the model file, then "qwen".
func ChooseTemplate(override, registryName, detectedName string) (Template, error) {
	if override != "" {
		return ParseTemplate(override)
	}
	for _, name := range []string{registryName, detectedName} {
		if name == "" {
			continue
		}
		if t, err := ParseTemplate(name); err == nil {
			return t, nil
		}
	}
	t, _ := LookupTemplate("qwen")
	return t, nil
}
