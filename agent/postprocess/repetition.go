package postprocess

import "strings"

// Repetition thresholds.
const (
	minRepeatedLines   = 5   // identical or near-identical lines in a row
	maxRepeatBlockSize = 20  // longest block (in lines) checked for a back-to-back copy
	maxRepeatScanLines = 300 // lines examined for repeated blocks
	minPatternRepeats  = 4   // copies of a pattern that make a line end "repeating"
	minPatternSpan     = 10  // bytes those copies must cover
)

// cutRepetition cuts a completion where the model started looping: at the
// second line of a run of minRepeatedLines near-identical lines, at the
// second copy of a block repeated back to back, and before a line that
// ends in a pattern repeated over and over (`)))))))))` or `abcabcabcabc`).
func cutRepetition(text string) string {
	lines := strings.Split(text, "\n")
	cut := len(lines)
	if i := repeatedLineRun(lines); i >= 0 {
		cut = min(cut, i)
	}
	if i := repeatedBlock(lines[:min(len(lines), maxRepeatScanLines)]); i >= 0 {
		cut = min(cut, i)
	}
	for i, line := range lines[:cut] {
		if endsInRepeatingPattern(line) {
			cut = i
			// The rest of a looping line is noise, but what the model
			// wrote before the loop on the first line is kept.
			if i == 0 {
				return strings.TrimRight(line[:repeatingPatternStart(line)], " \t")
			}
			break
		}
	}
	return strings.Join(lines[:cut], "\n")
}

// repeatedLineRun returns the index of the second line of the first run of
// minRepeatedLines non-blank lines that are all near-equal to the run's
// first line, or -1.
func repeatedLineRun(lines []string) int {
	for i := 0; i+minRepeatedLines <= len(lines); i++ {
		first := strings.TrimSpace(lines[i])
		if first == "" {
			continue
		}
		n := 1
		for _, l := range lines[i+1:] {
			if !lineNearEqual(first, strings.TrimSpace(l)) {
				break
			}
			n++
		}
		if n >= minRepeatedLines {
			return i + 1
		}
	}
	return -1
}

// lineNearEqual allows one edit per ten bytes (a counter or index that
// changes from line to line), and at least one.
func lineNearEqual(a, b string) bool {
	if a == b {
		return true
	}
	if b == "" {
		return false
	}
	return editDistanceWithin(a, b, max(1, max(len(a), len(b))/10))
}

// repeatedBlock returns the index of the first line of the second copy of
// a block of 2..maxRepeatBlockSize lines that follows itself immediately,
// or -1. Blocks of only closers or shorter than 10 non-space bytes are
// common in real code (`}` `}`) and ignored, and so are blocks of one line
// repeated (left to repeatedLineRun and its threshold).
func repeatedBlock(lines []string) int {
	trimmed := make([]string, len(lines))
	for i, l := range lines {
		trimmed[i] = strings.TrimSpace(l)
	}
	for i := range trimmed {
		for size := 2; size <= maxRepeatBlockSize && i+2*size <= len(trimmed); size++ {
			if blockEqual(trimmed[i:i+size], trimmed[i+size:i+2*size]) && substantial(trimmed[i:i+size]) {
				return i + size
			}
		}
	}
	return -1
}

func allSame(lines []string) bool {
	for _, l := range lines[1:] {
		if l != lines[0] {
			return false
		}
	}
	return true
}

func blockEqual(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func substantial(block []string) bool {
	if allSame(block) {
		return false // a run of one line, repeatedLineRun's business
	}
	n := 0
	for _, l := range block {
		if !onlyClosers(l) {
			n += len(l)
		}
	}
	return n >= 10
}

// endsInRepeatingPattern reports whether line ends with a pattern of 1 to
// 16 bytes repeated at least minPatternRepeats times over minPatternSpan
// bytes. Separator comments (`// -----`, `=====`) are not loops.
func endsInRepeatingPattern(line string) bool {
	return repeatingPatternStart(line) >= 0
}

// repeatingPatternStart returns where the repeating tail of line starts,
// or -1 when it has none.
func repeatingPatternStart(line string) int {
	line = strings.TrimRight(line, " \t")
	for p := 1; p <= 16 && p*minPatternRepeats <= len(line); p++ {
		pat := line[len(line)-p:]
		if strings.Trim(pat, "-=*#/_~.+ ") == "" {
			continue
		}
		start := len(line) - p
		for start >= p && line[start-p:start] == pat {
			start -= p
		}
		if n := (len(line) - start) / p; n >= minPatternRepeats && len(line)-start >= minPatternSpan {
			return start
		}
	}
	return -1
}
