package llama

import (
	"strings"
	"unicode/utf8"
)

// utf8Buffer turns the byte pieces of generated tokens into valid UTF-8:
// a character split across tokens is held back until it is complete, and
// bytes that can never start or continue a valid character are dropped.
type utf8Buffer struct {
	pending []byte
}

// write appends piece and returns the text that is now complete and valid.
func (b *utf8Buffer) write(piece []byte) string {
	b.pending = append(b.pending, piece...)
	var out strings.Builder
	p := b.pending
	for len(p) > 0 {
		if !utf8.FullRune(p) {
			break // an incomplete character: wait for its next bytes
		}
		r, size := utf8.DecodeRune(p)
		if r == utf8.RuneError && size == 1 {
			p = p[1:] // invalid: drop the byte
			continue
		}
		out.Write(p[:size])
		p = p[size:]
	}
	b.pending = append(b.pending[:0], p...)
	return out.String()
}

// flush drops an incomplete trailing character; nothing valid is left to emit.
func (b *utf8Buffer) flush() { b.pending = b.pending[:0] }

// fimTemplates are the FIM templates Serval knows, with the token texts that
// identify them in a vocabulary (any one alternative of each group must exist).
var fimTemplates = []struct {
	name   string
	tokens [][]string
}{
	{"qwen", [][]string{{"<|fim_prefix|>"}, {"<|fim_suffix|>"}, {"<|fim_middle|>"}}},
	{"starcoder", [][]string{{"<fim_prefix>"}, {"<fim_suffix>"}, {"<fim_middle>"}}},
	{"deepseek", [][]string{{"<｜fim▁begin｜>"}, {"<｜fim▁hole｜>"}, {"<｜fim▁end｜>"}}},
	{"codestral", [][]string{{"[PREFIX]"}, {"[SUFFIX]"}}},
	{"codellama", [][]string{{"▁<PRE>", "<PRE>"}, {"▁<SUF>", "<SUF>"}, {"▁<MID>", "<MID>"}}},
}

// detectFIMTemplate names the FIM template of a model from its vocabulary's
// token texts, falling back to its general.name; "" when unknown.
func detectFIMTemplate(name string, tokens []string) string {
	want := map[string]bool{}
	for _, t := range fimTemplates {
		for _, group := range t.tokens {
			for _, s := range group {
				want[s] = false
			}
		}
	}
	for _, tok := range tokens {
		if _, ok := want[tok]; ok {
			want[tok] = true
		}
	}
	for _, t := range fimTemplates {
		all := true
		for _, group := range t.tokens {
			any := false
			for _, s := range group {
				any = any || want[s]
			}
			all = all && any
		}
		if all {
			return t.name
		}
	}
	n := strings.ToLower(name)
	switch {
	case strings.Contains(n, "codestral"):
		return "codestral"
	case strings.Contains(n, "starcoder"), strings.Contains(n, "codeqwen"):
		return "starcoder"
	case strings.Contains(n, "deepseek") && strings.Contains(n, "coder"):
		return "deepseek"
	case strings.Contains(n, "codellama"), strings.Contains(n, "code llama"), strings.Contains(n, "code-llama"):
		return "codellama"
	case strings.Contains(n, "qwen") && strings.Contains(n, "coder"), strings.Contains(n, "codegemma"):
		return "qwen"
	}
	return ""
}

// commonPrefix returns the length of the longest common prefix of a and b.
func commonPrefix[T comparable](a, b []T) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
