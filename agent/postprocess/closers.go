package postprocess

import "strings"

// maxAutoClosers bounds the run of closers after the cursor that
// matchClosers considers replacing.
const maxAutoClosers = 16

// matchClosers decides how many bytes after the cursor the completion
// replaces. Editors insert closers as the user types (`(` gives `()`), and
// models write them again: `foo(` + `a, b)` before the auto-inserted `)`
// would read `foo(a, b))`. Every way of overlapping the completion's end
// with the start of the rest of the line is scored by how balanced the
// resulting line is (mismatched or unmatched closers, an unterminated
// string), and the best one wins, so that a closer is neither doubled nor
// lost: `foo(` + `bar(x)` before `)` keeps the `)`, `from '` + `./x';`
// before `'` replaces the `'`. Only closers the completion writes again
// are replaced (they appear in it, in order): an editor shows a suggestion
// as text added around what is there, so one that would delete a closer is
// not shown at all (VS Code drops it), however balanced the line it makes.
func matchClosers(cc *cursorContext, text string) (string, int) {
	rest := cc.lineSuffix
	if rest == "" || text == "" {
		return text, 0
	}
	lx := lexicalFor(cc.lang)
	best, bestScore := 0, lineImbalance(lx, cc.linePrefix+text+rest)+commentedOut(lx, cc.linePrefix+text, rest)
	if bestScore == 0 {
		return text, 0
	}
	bestExact := false
	for k := 1; k <= min(len(rest), maxAutoClosers); k++ {
		head := rest[:k]
		if !onlyClosers(head) {
			break
		}
		if !writes(text, head) {
			continue
		}
		score := lineImbalance(lx, cc.linePrefix+text+rest[k:]) + commentedOut(lx, cc.linePrefix+text, rest[k:])
		// Between equally good ranges, one the completion ends with
		// exactly (`);` over `);`) beats a shorter one (which would leave
		// `;;`); otherwise the shortest wins.
		exact := strings.HasSuffix(text, strings.TrimLeft(head, " \t"))
		if score < bestScore || score == bestScore && exact && !bestExact {
			best, bestScore, bestExact = k, score, exact
		}
	}
	return text, best
}

// writes reports whether text writes every character of replaced, in
// order: replacing it with text only adds characters around it.
func writes(text, replaced string) bool {
	for i := 0; i < len(replaced); i++ {
		j := strings.IndexByte(text, replaced[i])
		if j < 0 {
			return false
		}
		text = text[j+1:]
	}
	return true
}

// commentedOut counts the closers of rest that a line comment at the end
// of line would swallow.
func commentedOut(lx lexical, line, rest string) int {
	if _, inComment := lineEndState(lx, line); !inComment {
		return 0
	}
	return strings.Count(rest, ")") + strings.Count(rest, "]") + strings.Count(rest, "}")
}

// lineImbalance counts what is wrong with the brackets and quotes of text
// read from the start of its first line: closers that close nothing or the
// wrong opener, and a string left open at the end. Openers left open are
// not counted: a later line may close them.
func lineImbalance(lx lexical, text string) int {
	bad := 0
	var stack []byte
	open := map[byte]int{} // openers on the stack, by kind
	for _, b := range scanBrackets(lx, text) {
		if isOpener(b.ch) {
			stack = append(stack, b.ch)
			open[b.ch]++
			continue
		}
		n := len(stack)
		if n == 0 || closerOf(stack[n-1]) != b.ch {
			bad++
			if open[openerOf(b.ch)] == 0 {
				continue // closes nothing: skip it
			}
		}
		// Pop to the matching opener, counting skipped ones as mismatches.
		for n > 0 {
			top := stack[n-1]
			stack = stack[:n-1]
			open[top]--
			n--
			if closerOf(top) == b.ch {
				break
			}
			bad++
		}
	}
	if unterminatedString(lx, text) {
		bad++
	}
	return bad
}

func openerOf(ch byte) byte {
	switch ch {
	case ')':
		return '('
	case ']':
		return '['
	case '}':
		return '{'
	}
	return 0
}

// unterminatedString reports whether the last line of text ends inside a
// single-line string literal.
func unterminatedString(lx lexical, text string) bool {
	inString, _ := lineEndState(lx, text)
	return inString
}

// lineEndState reports whether the last line of text ends inside a string
// literal or a line comment.
func lineEndState(lx lexical, text string) (inString, inComment bool) {
	line := text[strings.LastIndexByte(text, '\n')+1:]
	for i := 0; i < len(line); i++ {
		switch ch := line[i]; ch {
		case '"', '\'', '`':
			if ch == '\'' && lx.charQuote {
				continue
			}
			if ch == '`' && !lx.backtick {
				continue
			}
			end := stringEnd(line, i)
			if end >= len(line) || line[end] != ch {
				return true, false
			}
			i = end
		case '#':
			if lx.hashComment {
				return false, true
			}
		case '/':
			if lx.slashComment && i+1 < len(line) && line[i+1] == '/' {
				return false, true
			}
		}
	}
	return false, false
}
