package prompt

import (
	"hash/fnv"
	"strings"
	"unicode/utf8"
)

// minAnchorLen is the least length of a trimmed line that can be an anchor:
// short lines ("}", "return nil") repeat too often to be stable landmarks.
const minAnchorLen = 8

// pieces yields the lines of s (with their newlines), each line longer than
// pieceBytes split into pieces of at most pieceBytes at character
// boundaries. Splitting depends only on the line, so a line's pieces are the
// same wherever it appears.
func pieces(s string) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		for line := range strings.Lines(s) {
			for len(line) > pieceBytes {
				cut := pieceBytes
				for cut > 1 && !utf8.RuneStart(line[cut]) {
					cut--
				}
				if !yield(line[:cut]) {
					return
				}
				line = line[cut:]
			}
			if !yield(line) {
				return
			}
		}
	}
}

// keepTail returns the end of prefix that fits budget tokens, its token
// count, and whether anything was cut. The cut is at a line boundary,
// preferably at an anchor line (see anchorHash) as long as that keeps at
// least half the budget; only a single line longer than the budget is cut
// inside the line (at a piece boundary, keeping its end). count must add up
// over pieces (see Builder.countText). Only the kept lines and one more are
// looked at, so a long prefix costs no more than a short one.
func keepTail(prefix string, budget, stride int, count func(string) int) (string, int, bool) {
	if prefix == "" {
		return "", 0, false
	}
	if budget <= 0 {
		return "", 0, true
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
		c := count(prefix[start:end])
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
func keepHead(suffix string, budget int, count func(string) int) (string, int, bool) {
	if suffix == "" {
		return "", 0, false
	}
	if budget <= 0 {
		return "", 0, true
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

// fitTail returns the longest end of line that counts at most budget
// tokens: whole pieces, plus the end of the piece before them that fits.
func fitTail(line string, budget int, count func(string) int) (string, int) {
	var starts, costs []int
	off := 0
	for piece := range pieces(line) {
		starts, costs = append(starts, off), append(costs, count(piece))
		off += len(piece)
	}
	sum, k := 0, len(starts)
	for k > 0 && sum+costs[k-1] <= budget {
		k--
		sum += costs[k]
	}
	start := len(line)
	if k < len(starts) {
		start = starts[k]
	}
	if k > 0 {
		// The end of the piece that did not fit whole.
		piece := line[starts[k-1]:start]
		bounds := runeBounds(piece)
		// The smallest boundary whose tail fits; tails shrink as it grows.
		lo, hi := 0, len(bounds)
		for lo < hi {
			mid := (lo + hi) / 2
			if count(piece[bounds[mid]:]) <= budget-sum {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		if lo < len(bounds) && bounds[lo] < len(piece) {
			tail := piece[bounds[lo]:]
			sum += count(tail)
			start -= len(tail)
		}
	}
	return line[start:], sum
}

// fitHead returns the longest start of line that counts at most budget
// tokens: whole pieces, plus the start of the next piece that fits.
func fitHead(line string, budget int, count func(string) int) (string, int) {
	end, sum := 0, 0
	for piece := range pieces(line) {
		c := count(piece)
		if sum+c <= budget {
			sum += c
			end += len(piece)
			continue
		}
		bounds := runeBounds(piece)
		// The largest boundary whose head fits.
		lo, hi := 0, len(bounds)
		for lo < hi {
			mid := (lo + hi) / 2
			if count(piece[:bounds[mid]]) <= budget-sum {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		if lo > 0 {
			sum += count(piece[:bounds[lo-1]])
			end += bounds[lo-1]
		}
		break
	}
	return line[:end], sum
}

// runeBounds lists the character boundaries of s: 0, ..., len(s).
func runeBounds(s string) []int {
	out := make([]int, 0, len(s)+1)
	for i := range s {
		out = append(out, i)
	}
	return append(out, len(s))
}
