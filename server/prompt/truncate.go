package prompt

import (
	"hash/fnv"
	"strings"
	"unicode/utf8"
)

// maxBytesPerToken bounds how much text a budget of n tokens can cover; it
// keeps the tokenizer calls of a cut short for huge inputs.
const maxBytesPerToken = 8

// minAnchorLen is the least length of a trimmed line that can be an anchor:
// short lines ("}", "return nil") repeat too often to be stable landmarks.
const minAnchorLen = 8

// keepTail returns the end of prefix that fits budget tokens, its token
// count, and whether anything was cut. The cut is at a line boundary,
// preferably at an anchor line (see isAnchor) as long as that keeps at least
// half the budget; only a single line longer than the budget is cut inside
// the line (at a character boundary, keeping its end).
func keepTail(prefix string, budget, stride int, count func(string) int) (string, int, bool) {
	if prefix == "" {
		return "", 0, false
	}
	if budget <= 0 {
		return "", 0, true
	}
	if len(prefix) <= maxBytesPerToken*budget {
		if n := count(prefix); n <= budget {
			return prefix, n, false
		}
	}
	lines := strings.SplitAfter(prefix, "\n")
	// kept[i-first] is the token count of lines[i:], for the lines that fit.
	var kept []int
	first, sum := len(lines), 0
	for i := len(lines) - 1; i >= 0; i-- {
		c := count(lines[i])
		if sum+c > budget {
			break
		}
		sum += c
		first = i
		kept = append(kept, sum)
	}
	switch {
	case first == len(lines):
		// Not even the cursor's line fits: keep the end of it.
		text, n := fitTail(lines[len(lines)-1], budget, count)
		return text, n, true
	case first == 0:
		// Each line fits, only the joined text did not; the caller's exact
		// check shrinks the budget and comes back.
		return prefix, sum, false
	}
	keptFrom := func(i int) int { return kept[len(lines)-1-i] }
	start := first
	for i := first; i < len(lines)-1 && 2*keptFrom(i) >= budget; i++ {
		if isAnchor(lines[i], stride) {
			start = i
			break
		}
	}
	return strings.Join(lines[start:], ""), keptFrom(start), true
}

// isAnchor reports whether a prefix cut may start at line. About one line in
// stride (among lines long enough) is an anchor, chosen by a hash of the
// line's text: the choice does not depend on where the line is, so it stays
// the same while the user types below it, and the prompt's start only moves
// when the budget overflows past it.
func isAnchor(line string, stride int) bool {
	if stride <= 1 {
		return true
	}
	line = strings.TrimRight(line, "\r\n")
	if len(strings.TrimSpace(line)) < minAnchorLen {
		return false
	}
	h := fnv.New32a()
	h.Write([]byte(line))
	return h.Sum32()%uint32(stride) == 0
}

// keepHead returns the start of suffix that fits budget tokens, its token
// count, and whether anything was cut: whole lines, or the start of the
// first line when even that is too long.
func keepHead(suffix string, budget int, count func(string) int) (string, int, bool) {
	if suffix == "" {
		return "", 0, false
	}
	if budget <= 0 {
		return "", 0, true
	}
	if len(suffix) <= maxBytesPerToken*budget {
		if n := count(suffix); n <= budget {
			return suffix, n, false
		}
	}
	end, sum := 0, 0
	for line := range strings.Lines(suffix) {
		c := count(line)
		if sum+c > budget {
			break
		}
		sum += c
		end += len(line)
	}
	if end == 0 {
		line, _, _ := strings.Cut(suffix, "\n")
		text, n := fitHead(line, budget, count)
		return text, n, true
	}
	return suffix[:end], sum, end < len(suffix)
}

// fitTail returns the longest end of s, starting at a character boundary,
// that counts at most budget tokens.
func fitTail(s string, budget int, count func(string) int) (string, int) {
	starts := runeStarts(s, max(0, len(s)-maxBytesPerToken*budget), len(s))
	// The smallest start whose tail fits; tails shrink as the start grows.
	lo, hi := 0, len(starts)
	for lo < hi {
		mid := (lo + hi) / 2
		if count(s[starts[mid]:]) <= budget {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if lo == len(starts) {
		return "", 0
	}
	return s[starts[lo]:], count(s[starts[lo]:])
}

// fitHead returns the longest start of s, ending at a character boundary,
// that counts at most budget tokens.
func fitHead(s string, budget int, count func(string) int) (string, int) {
	limit := min(len(s), maxBytesPerToken*budget)
	var ends []int // character boundaries in (0, limit]
	for i := 1; i <= limit; i++ {
		if i == len(s) || utf8.RuneStart(s[i]) {
			ends = append(ends, i)
		}
	}
	// The largest end whose head fits.
	lo, hi := 0, len(ends)
	for lo < hi {
		mid := (lo + hi) / 2
		if count(s[:ends[mid]]) <= budget {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return "", 0
	}
	return s[:ends[lo-1]], count(s[:ends[lo-1]])
}

// runeStarts lists the byte offsets in [from, to) where a character starts.
func runeStarts(s string, from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		if utf8.RuneStart(s[i]) {
			out = append(out, i)
		}
	}
	return out
}
