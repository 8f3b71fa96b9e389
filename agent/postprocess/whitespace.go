package postprocess

import (
	"strings"
)

// trimLeadingSpace drops the completion's leading spaces and tabs when the
// line already ends in whitespace before the cursor: the model repeating the
// indentation or the space after a keyword would double it.
func trimLeadingSpace(cc *cursorContext, text string) string {
	if cc.linePrefix == "" || !strings.ContainsAny(cc.linePrefix[len(cc.linePrefix)-1:], " \t") {
		return text
	}
	return strings.TrimLeft(text, " \t")
}

// trimTrailingSpace drops trailing whitespace from every line and trailing
// blank lines. The last line keeps its trailing spaces when it is followed
// on the cursor's line by text that starts without one ("a, " before "b)").
func trimTrailingSpace(cc *cursorContext, text string) string {
	keepLast := cc.lineSuffix != "" && !strings.ContainsAny(cc.lineSuffix[:1], " \t")
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		if i == len(lines)-1 && keepLast {
			continue
		}
		lines[i] = strings.TrimRight(line, " \t")
	}
	for len(lines) > 1 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if keepLast && len(lines) > 0 && isBlank(lines[len(lines)-1]) && len(lines) > 1 {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n")
}

// detectIndent guesses the document's indentation from the lines around
// the cursor: tabs when more lines start with a tab than with spaces, and
// otherwise the most common step between consecutive indentation levels.
func detectIndent(lang, prefix, suffix string, tabs bool) Indent {
	if tabs {
		return Indent{Tabs: true, Width: 4}
	}
	const sampleLines = 100
	var tabLines, spaceLines int
	steps := map[int]int{}
	prev := -1
	count := func(line string) {
		if isBlank(line) {
			return
		}
		ws := leadingWhitespace(line)
		switch {
		case strings.HasPrefix(ws, "\t"):
			tabLines++
		case ws != "":
			spaceLines++
		}
		if strings.Contains(ws, "\t") {
			prev = -1
			return
		}
		if n := len(ws); prev >= 0 && n > prev {
			steps[n-prev]++
		}
		prev = len(ws)
	}
	// Sample the lines nearest the cursor: the last ones of the prefix and
	// the first ones of the suffix.
	sample := func(text string, fromEnd bool) {
		prev = -1
		if fromEnd {
			start := len(text)
			for n := 0; n < sampleLines && start > 0; n++ {
				start = strings.LastIndexByte(text[:start-1], '\n') + 1
			}
			text = text[start:]
		}
		for n := 0; n < sampleLines && text != ""; n++ {
			end := lineEnd(text, 0)
			count(text[:end])
			text = text[min(end+1, len(text)):]
		}
	}
	sample(prefix, true)
	sample(suffix, false)
	if tabLines > spaceLines {
		return Indent{Tabs: true, Width: 4}
	}
	best, bestCount := 0, 0
	for step, n := range steps {
		if step <= 8 && (n > bestCount || n == bestCount && step < best) {
			best, bestCount = step, n
		}
	}
	if best == 0 {
		if spaceLines == 0 && tabLines == 0 {
			if in, ok := defaultIndentFor(lang); ok {
				return in
			}
		}
		best = 4
	}
	return Indent{Width: best}
}

// defaultIndentFor is the convention of languages whose formatter decides.
func defaultIndentFor(lang string) (Indent, bool) {
	switch lang {
	case "go", "makefile":
		return Indent{Tabs: true, Width: 4}, true
	}
	return Indent{}, false
}

// reindent rewrites the indentation of every line after the first to the
// document's style: tabs become spaces (one level each) in a spaces file,
// and runs of spaces become tabs in a tabs file, with the model's own
// indentation step as the unit. Alignment spaces left over are kept.
func reindent(cc *cursorContext, text string) string {
	if !strings.Contains(text, "\n") {
		return text
	}
	lines := strings.Split(text, "\n")
	want := cc.indentStyle()
	unit := want.Width
	if want.Tabs {
		unit = spaceUnit(leadingWhitespace(cc.linePrefix), lines[1:], want.Width)
	}
	changed := false
	for i := 1; i < len(lines); i++ {
		ws := leadingWhitespace(lines[i])
		if ws == "" {
			continue
		}
		var fixed string
		if want.Tabs {
			if !strings.Contains(ws, " ") {
				continue
			}
			cols := 0
			for _, r := range ws {
				if r == '\t' {
					cols += unit
				} else {
					cols++
				}
			}
			fixed = strings.Repeat("\t", cols/unit) + strings.Repeat(" ", cols%unit)
		} else {
			if !strings.Contains(ws, "\t") {
				continue
			}
			fixed = strings.ReplaceAll(ws, "\t", strings.Repeat(" ", unit))
		}
		if fixed != ws {
			lines[i] = fixed + lines[i][len(ws):]
			changed = true
		}
	}
	if !changed {
		return text
	}
	return strings.Join(lines, "\n")
}

// spaceUnit finds how many spaces the model used per level: the most common
// step between the indentation of consecutive space-indented lines, else
// fallback (the document's tab width).
func spaceUnit(cursorIndent string, lines []string, fallback int) int {
	steps := map[int]int{}
	prev := -1
	if !strings.Contains(cursorIndent, "\t") {
		prev = len(cursorIndent)
	}
	for _, line := range lines {
		if isBlank(line) {
			continue
		}
		ws := leadingWhitespace(line)
		if strings.Contains(ws, "\t") {
			prev = -1
			continue
		}
		n := len(ws)
		if prev >= 0 && n > prev {
			steps[n-prev]++
		}
		prev = n
	}
	best, bestCount := 0, 0
	for step, n := range steps {
		if step <= 8 && (n > bestCount || n == bestCount && step < best) {
			best, bestCount = step, n
		}
	}
	switch {
	case best > 0:
		return best
	case fallback > 0:
		return fallback
	}
	return 4
}
