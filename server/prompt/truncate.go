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
// the line (at a character boundary, keeping its end). count counts a whole
// text, countLine one line (it may cache). Only the kept lines and one more
// are looked at, so a long prefix costs no more than a short one.
func keepTail(prefix string, budget, stride int, count, countLine func(string) int) (string, int, bool) {
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
	// Walk back from the cursor's line: starts[k] is where the k-th line
	// before it begins (k = 0: the cursor's line), kept[k] the tokens from
	// there to the end.
	var starts, kept []int
	sum := 0
	for end := len(prefix); ; {
		var start int
		if len(starts) == 0 {
			start = strings.LastIndexByte(prefix, '\n') + 1
		} else if end == 0 {
			break
		} else {
			start = strings.LastIndexByte(prefix[:end-1], '\n') + 1
		}
		c := countLine(prefix[start:end])
		if sum+c > budget {
			break
		}
		sum += c
		starts, kept = append(starts, start), append(kept, sum)
		end = start
	}
	switch {
	case len(starts) == 0:
		// Not even the cursor's line fits: keep the end of it.
		text, n := fitTail(prefix[strings.LastIndexByte(prefix, '\n')+1:], budget, count)
		return text, n, true
	case starts[len(starts)-1] == 0:
		// Each line fits, only the joined text did not; the caller's exact
		// check shrinks the budget and comes back.
		return prefix, sum, false
	}
	// The earliest anchor among the kept lines (never the cursor's line),
	// unless it would leave less than half the budget used. When no line
	// of the window is an anchor at the given spacing, try half the spacing:
	// a coarser landmark that is still chosen by content alone.
	k := len(starts) - 1
	lo := 1 // lines lo..k are candidates
	for lo <= k && 2*kept[lo] < budget {
		lo++
	}
	hashes := make([]uint32, len(starts))
	for i := lo; i <= k; i++ {
		hashes[i] = anchorHash(prefix[starts[i]:starts[i-1]])
	}
search:
	for d := stride; d > 1; d /= 2 {
		for i := len(starts) - 1; i >= lo; i-- {
			if hashes[i] != 0 && hashes[i]%uint32(d) == 0 {
				k = i
				break search
			}
		}
	}
	return prefix[starts[k]:], kept[k], true
}

// anchorHash returns the hash that decides whether a prefix cut may start
// at line: about one line in stride (among lines long enough) has a hash
// divisible by stride. The choice depends on the line's text alone, not on
// where it is, so it stays the same while the user types below it, and the
// prompt's start only moves when the budget overflows past it. Short lines
// ("}", "return nil") repeat too often to be landmarks: they get 0, never
// an anchor.
func anchorHash(line string) uint32 {
	line = strings.TrimRight(line, "\r\n")
	if len(strings.TrimSpace(line)) < minAnchorLen {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(line))
	if sum := h.Sum32(); sum != 0 {
		return sum
	}
	return 1
}

// keepHead returns the start of suffix that fits budget tokens, its token
// count, and whether anything was cut: whole lines, or the start of the
// first line when even that is too long.
func keepHead(suffix string, budget int, count, countLine func(string) int) (string, int, bool) {
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
		c := countLine(line)
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
