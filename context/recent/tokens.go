// Package recent tracks the user's recent work for completion context: the
// line ranges edited and viewed in each document, the working tree's
// `git diff` against HEAD (changes made outside the editor), and the
// identifier-token similarity (Jaccard) that ranks chunks of that work
// against the code around the cursor.
package recent

import (
	"sort"
	"unicode/utf8"
)

// stopwords are keywords common to the supported languages; they say
// nothing about what a chunk is about.
var stopwords = map[string]bool{
	"if": true, "else": true, "for": true, "return": true, "func": true, "function": true,
	"def": true, "class": true, "var": true, "let": true, "const": true, "int": true,
	"string": true, "nil": true, "null": true, "none": true, "true": true, "false": true,
	"self": true, "this": true, "new": true, "import": true, "from": true, "package": true,
	"public": true, "private": true, "static": true, "void": true, "err": true, "end": true,
	"in": true, "of": true, "to": true, "is": true, "and": true, "or": true, "not": true,
	"type": true, "struct": true, "while": true, "break": true, "continue": true, "fn": true,
	"pub": true, "mut": true, "impl": true, "use": true, "export": true, "async": true, "await": true,
}

// TokenSet is the set of identifier tokens of a text.
type TokenSet map[string]struct{}

// Tokens splits text into identifier tokens (letters, digits, underscores,
// starting with a letter or underscore) of two or more characters, keyword
// stopwords left out.
func Tokens(text string) TokenSet {
	set := make(TokenSet)
	start := -1
	flush := func(end int) {
		if start >= 0 && end-start >= 2 {
			if tok := text[start:end]; !stopwords[tok] {
				set[tok] = struct{}{}
			}
		}
		start = -1
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80:
			if start < 0 {
				start = i
			}
		case c >= '0' && c <= '9':
			// part of an identifier, never its start
		default:
			flush(i)
		}
	}
	flush(len(text))
	return set
}

// Jaccard is |a ∩ b| / |a ∪ b|, zero for two empty sets.
func Jaccard(a, b TokenSet) float64 {
	if len(a) > len(b) {
		a, b = b, a
	}
	inter := 0
	for t := range a {
		if _, ok := b[t]; ok {
			inter++
		}
	}
	union := len(a) + len(b) - inter
	if union == 0 {
		return 0
	}
	return float64(inter) / float64(union)
}

// Chunk is a piece of recent work offered as a snippet.
type Chunk struct {
	Path     string
	StartRow int
	Text     string
	Tokens   TokenSet
}

// Scored is a chunk with its similarity to the query.
type Scored struct {
	Chunk
	Score float64
}

// Rank scores chunks against the query tokens and keeps the best ones, in
// falling score order, whose texts fit in budget characters together (the
// unit of every prompt budget). Chunks
// scoring below minScore, and chunks overlapping a better one of the same
// file, are left out.
func Rank(query TokenSet, chunks []Chunk, budget int, minScore float64) []Scored {
	scored := make([]Scored, 0, len(chunks))
	for _, c := range chunks {
		if s := Jaccard(query, c.Tokens); s >= minScore && s > 0 {
			scored = append(scored, Scored{Chunk: c, Score: s})
		}
	}
	sort.SliceStable(scored, func(i, j int) bool { return scored[i].Score > scored[j].Score })
	var out []Scored
	used := 0
	type span struct{ from, to int }
	taken := map[string][]span{}
	for _, s := range scored {
		n := utf8.RuneCountInString(s.Text)
		if used+n > budget {
			continue
		}
		rows := span{s.StartRow, s.StartRow + countLines(s.Text)}
		overlaps := false
		for _, t := range taken[s.Path] {
			if rows.from < t.to && t.from < rows.to {
				overlaps = true
				break
			}
		}
		if overlaps {
			continue
		}
		taken[s.Path] = append(taken[s.Path], rows)
		used += n
		out = append(out, s)
	}
	return out
}

func countLines(s string) int {
	n := 1
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			n++
		}
	}
	return n
}
