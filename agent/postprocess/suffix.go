package postprocess

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxOverlapLines bounds how many trailing lines trimSuffixOverlap compares
// with the suffix.
const maxOverlapLines = 32

// trimSuffixOverlap removes the part of the completion that the document
// already has right after it: trailing lines equal (or near-equal) to the
// next lines of the suffix, and a tail of a mid-line completion that
// repeats the rest of the cursor's line. Lines are only removed when that
// does not leave an opener of the completion without its closer.
func trimSuffixOverlap(cc *cursorContext, text string) string {
	text = trimLineTailOverlap(cc, text)
	lines := strings.Split(text, "\n")
	if len(lines) < 2 {
		return text
	}
	// Offsets of the completion's non-blank lines after the first.
	var starts []int
	off := len(lines[0]) + 1
	for _, line := range lines[1:] {
		if !isBlank(line) {
			starts = append(starts, off)
		}
		off += len(line) + 1
	}
	// A model repeats the next few lines, not pages: bound the search.
	if len(starts) > maxOverlapLines {
		starts = starts[len(starts)-maxOverlapLines:]
	}
	next := cc.suffixLines(len(starts))
	lx := lexicalFor(cc.lang)
	fullDepth, _ := bracketDepth(scanBrackets(lx, text))
	for k := min(len(starts), len(next)); k > 0; k-- {
		cut := starts[len(starts)-k]
		tail := nonBlankLines(text[cut:])
		if !linesNearEqual(tail, next[:k]) || !closersAligned(text[cut:], next[:k]) {
			continue
		}
		kept := strings.TrimRight(text[:cut], " \t\n")
		if d, _ := bracketDepth(scanBrackets(lx, kept)); d > max(0, fullDepth) {
			continue
		}
		return kept
	}
	return text
}

// maxLineOverlap bounds the part of the cursor's line that
// trimLineTailOverlap looks for at the completion's end.
const maxLineOverlap = 256

// closersAligned reports whether the closer-only lines among the
// completion's tail and the suffix's lines have the same indentation: a `}`
// one level out closes another block (see sameBlockCloser).
func closersAligned(tail string, next []string) bool {
	i := 0
	for line := range strings.SplitSeq(tail, "\n") {
		if isBlank(line) {
			continue
		}
		if i >= len(next) {
			break
		}
		if onlyClosers(strings.TrimSpace(line)) && leadingWhitespace(line) != leadingWhitespace(next[i]) {
			return false
		}
		i++
	}
	return true
}

// trimLineTailOverlap cuts a completion's tail that repeats the text after
// the cursor on its line: `a, b)` before `b)` becomes `a, `. Tails made only
// of closers are left to matchClosers, which covers them with the replace
// range instead.
func trimLineTailOverlap(cc *cursorContext, text string) string {
	rest := strings.TrimRight(cc.lineSuffix, " \t")
	if rest == "" || onlyClosers(rest) {
		return text
	}
	rest = rest[:min(len(rest), maxLineOverlap)]
	for k := len(rest); k > 0; k-- {
		head := rest[:k]
		if k < len(rest) && (k < 3 || onlyClosers(head)) {
			break
		}
		if strings.HasSuffix(text, head) && len(head) < len(strings.TrimSpace(text)) {
			return text[:len(text)-len(head)]
		}
	}
	return text
}

// dropSuffixDuplicate reports whether the completion's first lines are the
// document's next lines (the rest of the cursor's line, then the following
// non-blank lines) up to a 5% edit distance: the model copied the code below
// the cursor instead of writing new code.
func dropSuffixDuplicate(cc *cursorContext, text string) bool {
	got := nonBlankLines(text)
	if len(got) == 0 {
		return false
	}
	got = got[:min(len(got), 3)]
	var next []string
	if !isBlank(cc.lineSuffix) {
		next = append(next, cc.lineSuffix)
	}
	next = append(next, cc.suffixLines(len(got))...)
	if len(next) < len(got) {
		return false
	}
	return linesNearEqual(got, next[:len(got)])
}

// nonBlankLines splits text into its non-blank lines, trimmed.
func nonBlankLines(text string) []string {
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		if t := strings.TrimSpace(line); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// linesNearEqual compares two runs of lines, ignoring surrounding
// whitespace, and allows an edit distance of 5% of their length.
func linesNearEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x := trimmedJoin(a)
	y := trimmedJoin(b)
	if x == y {
		return true
	}
	allowed := max(len(x), len(y)) / 20
	return allowed > 0 && editDistanceWithin(x, y, allowed)
}

func trimmedJoin(lines []string) string {
	var b strings.Builder
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(strings.TrimSpace(l))
	}
	return b.String()
}

// editDistanceWithin reports whether the Levenshtein distance between a and
// b (in bytes) is at most limit. Only the diagonal band of width limit is
// computed, so the work is O(len * limit), and it gives up as soon as no
// alignment can stay within the limit.
func editDistanceWithin(a, b string, limit int) bool {
	if d := len(a) - len(b); d > limit || -d > limit {
		return false
	}
	if limit <= 0 {
		return a == b
	}
	const maxLen = 4096 // longer texts are never near-duplicates worth the work
	if len(a) > maxLen || len(b) > maxLen {
		return false
	}
	inf := limit + 1
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = min(j, inf)
	}
	for i := 1; i <= len(a); i++ {
		lo, hi := max(1, i-limit), min(len(b), i+limit)
		cur[lo-1] = inf
		best := inf
		if lo == 1 {
			cur[0] = min(i, inf)
			best = cur[0]
		}
		for j := lo; j <= hi; j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			up := inf
			if j <= i-1+limit {
				up = prev[j]
			}
			v := min(up+1, cur[j-1]+1, prev[j-1]+cost, inf)
			cur[j] = v
			best = min(best, v)
		}
		if hi < len(b) {
			cur[hi+1] = inf
		}
		if best > limit {
			return false
		}
		prev, cur = cur, prev
	}
	return prev[len(b)] <= limit
}

// onlyClosers reports whether s is made of closing brackets, quotes,
// statement ends and spaces: what editors insert automatically.
func onlyClosers(s string) bool {
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(")]}\"'`;, \t", rune(s[i])) {
			return false
		}
	}
	return true
}

// dropShort returns a discard reason for a completion too short to be worth
// showing or made only of punctuation, and "" otherwise.
func dropShort(cc *cursorContext, text string) string {
	t := strings.TrimSpace(text)
	if cc.minLength > 0 && utf8.RuneCountInString(t) < cc.minLength {
		return ReasonTooShort
	}
	for _, r := range t {
		if !unicode.IsPunct(r) && !unicode.IsSymbol(r) && !unicode.IsSpace(r) {
			return ""
		}
	}
	return ReasonPunctuation
}
