package postprocess

import (
	"strings"
)

// limitScope cuts a multi-line completion where it leaves the block the
// cursor is in, or where it starts a new top-level declaration.
//
// Brace languages follow the completion's brackets from the cursor: the
// first closer that closes a bracket opened before the cursor leaves the
// block, unless the same line reopens one (`} else {`, `} catch (e) {`,
// `}, {`) or the next line continues the statement (`else`, `catch`,
// `finally`, `while`). Where the suffix closes that block too, the
// completion stops before its closer; where it does not (the user is
// writing the end of the file), the closer's line is kept. The brackets come
// from a tree-sitter parse of a window of prefix + completion + suffix when
// the language has a grammar (so brackets in strings, comments and
// multi-line literals never count), and from a lexical scan otherwise.
//
// A completion that starts with a declaration (a function, a method, a
// class, per the syntax tree) ends with that declaration: the model going
// on to write the next method of the class is another suggestion.
//
// Indentation languages (Python) end the block at the first line indented
// less than the cursor's line, except for `else`/`elif`/`except`/`finally`
// at the level of the block's header. Such a line continues the header's
// statement, so from there on the completion writes at the header's level:
// the statement after the chain (the `return` a function falls through to)
// is kept, and a line indented less than that level ends it.
func limitScope(cc *cursorContext, text string) string {
	if !strings.Contains(text, "\n") {
		return text
	}
	tokens, ok := treeBrackets(cc, text)
	if !ok {
		lx := lexicalFor(cc.lang)
		tokens = bracketTokens{completion: scanBrackets(lx, text), declarationEnd: -1}
		tokens.suffix = firstUnmatchedCloser(scanBrackets(lx, suffixWindow(cc.suffix)))
	}
	if tokens.declarationEnd > 0 {
		text = afterDeclaration(text, tokens.declarationEnd)
	}
	if indentationBlocks(cc.lang) {
		return limitScopeByIndentation(cc, text, tokens)
	}
	return limitScopeByBrackets(cc, text, tokens)
}

// afterDeclaration cuts text after the line where its first declaration
// ends, keeping the lines of closers that follow right after it: they close
// blocks around the cursor, and the bracket rules decide about them.
func afterDeclaration(text string, declarationEnd int) string {
	end := lineEnd(text, declarationEnd-1)
	for end < len(text) {
		next := lineEnd(text, end+1)
		line := strings.TrimSpace(text[end+1 : next])
		if line == "" || !onlyClosers(line) {
			break
		}
		end = next
	}
	return text[:end]
}

// bracketTokens are the brackets limitScope follows.
type bracketTokens struct {
	completion []bracket // the completion's brackets, offsets in the completion
	// suffix is the suffix's first closer of a bracket opened before the
	// cursor (ch 0 if none), its offset in the suffix.
	suffix bracket
	// cursorTopLevel reports that the cursor is outside every block; when
	// unknown (no grammar), the cursor line's indentation decides.
	cursorTopLevel, topLevelKnown bool
	// literals are the spans of the completion inside strings and comments
	// that cover a line start (multi-line strings, docstrings); known only
	// from a syntax tree.
	literals []span
	// declarationEnd is where the declaration the completion starts with
	// (a function, a method, a class) ends, or -1: one declaration per
	// completion, the next one is another suggestion.
	declarationEnd int
}

// span is a byte range [start, end) of the completion.
type span struct{ start, end int }

// inLiteral reports whether offset off of the completion lies strictly
// inside a multi-line string or comment.
func (t *bracketTokens) inLiteral(off int) bool {
	for _, s := range t.literals {
		if s.start < off && off < s.end {
			return true
		}
	}
	return false
}

// depthAt returns the bracket depth of the completion at offset off.
func (t *bracketTokens) depthAt(off int) int {
	d := 0
	for _, b := range t.completion {
		if b.off >= off {
			break
		}
		if isOpener(b.ch) {
			d++
		} else {
			d--
		}
	}
	return d
}

// firstUnmatchedCloser returns the first closer in brackets that closes a
// bracket opened before them, or a zero bracket.
func firstUnmatchedCloser(brackets []bracket) bracket {
	depth := 0
	for _, b := range brackets {
		if isOpener(b.ch) {
			depth++
			continue
		}
		if depth--; depth < 0 {
			return b
		}
	}
	return bracket{}
}

// indentationBlocks reports languages whose blocks are made by indentation.
func indentationBlocks(lang string) bool {
	switch lang {
	case "python", "yaml", "coffeescript", "nim", "haml", "pug", "sass":
		return true
	}
	return false
}

// continuationKeywords start a line that continues the statement whose
// block the previous line closed.
var continuationKeywords = []string{"else", "elif", "catch", "except", "finally"}

func startsWithKeyword(line string, keywords []string) bool {
	t := strings.TrimLeft(line, " \t")
	for _, kw := range keywords {
		if strings.HasPrefix(t, kw) && (len(t) == len(kw) || !isWordByte(t[len(kw)])) {
			return true
		}
	}
	return false
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func limitScopeByBrackets(cc *cursorContext, text string, tok bracketTokens) string {
	topLevel := tok.cursorTopLevel
	if !tok.topLevelKnown {
		topLevel = leadingWhitespace(cc.linePrefix) == "" && !isBlank(cc.linePrefix+firstLine(text))
	}
	depth := 0
	finishedConstruct := false // the completion opened and closed a block at the cursor's level
	bi := 0
	lineStart := 0
	for lineStart <= len(text) {
		end := lineEnd(text, lineStart)
		line := text[lineStart:end]
		if lineStart > 0 && depth == 0 && startsDeclaration(line) && (!topLevel || finishedConstruct) {
			return strings.TrimRight(text[:lineStart], " \t\n")
		}
		for ; bi < len(tok.completion) && tok.completion[bi].off < end; bi++ {
			b := tok.completion[bi]
			if isOpener(b.ch) {
				depth++
				continue
			}
			depth--
			if depth == 0 {
				finishedConstruct = true
			}
			if depth >= 0 || continues(text, tok.completion[bi+1:], b, end, depth) {
				continue
			}
			// The completion leaves the cursor's block here. If the suffix
			// closes the same block on a later line, the completion stops
			// before its own closer. Otherwise it keeps its closer's line:
			// nothing closes the block (the end of the file is being
			// written), or the suffix's closer is one level out, or it is
			// right after the cursor (`{|}`), where the replace range will
			// cover it (matchClosers) so that the closer lands on its own
			// line.
			if tok.suffix.ch == b.ch && tok.suffix.off >= len(cc.lineSuffix) &&
				sameBlockCloser(cc.suffix, tok.suffix.off, cc.linePrefix+text, len(cc.linePrefix)+b.off) {
				cut := b.off
				if isBlank(text[lineStart:b.off]) {
					cut = lineStart
				}
				return strings.TrimRight(text[:cut], " \t\n")
			}
			return text[:end]
		}
		lineStart = end + 1
	}
	return text
}

// sameBlockCloser reports whether the suffix's closer at suffixOff and the
// completion's closer at textOff close the same block, as far as layout
// tells: when both start their lines, they must be indented alike. In
// `if err != nil {|` above a function's closing `}`, the suffix's `}` pairs
// with the `{` by count but is one level out: it closes the function, and
// the completion's own `}` is needed.
func sameBlockCloser(suffix string, suffixOff int, text string, textOff int) bool {
	sIndent, sAlone := closerIndent(suffix, suffixOff)
	tIndent, tAlone := closerIndent(text, textOff)
	return !sAlone || !tAlone || sIndent == tIndent
}

// closerIndent returns the indentation of the line holding the closer at
// off, and whether the closer is the first thing on it.
func closerIndent(s string, off int) (string, bool) {
	start := strings.LastIndexByte(s[:off], '\n') + 1
	ws := s[start:off]
	return ws, strings.Trim(ws, " \t") == ""
}

// continues reports whether the block closed by b (leaving depth below
// zero) is continued: the rest of its line comes back to depth zero
// (`} else {`, `} catch (e) {`, `}, {`, but not `} while (x);`), or the
// line has nothing else and the next non-blank line starts with a
// continuation keyword (`else` on its own line).
func continues(text string, after []bracket, b bracket, end, depth int) bool {
	d := depth
	for _, a := range after {
		if a.off >= end {
			break
		}
		if isOpener(a.ch) {
			d++
		} else {
			d--
		}
	}
	if d >= 0 {
		return true
	}
	if !isBlank(text[b.off+1 : end]) {
		return false
	}
	for rest := text[min(end+1, len(text)):]; rest != ""; {
		line := rest[:lineEnd(rest, 0)]
		if !isBlank(line) {
			return startsWithKeyword(line, continuationKeywords)
		}
		rest = rest[min(len(line)+1, len(rest)):]
	}
	return false
}

// startsDeclaration reports a line that starts at column 0 with code that
// is neither a closer nor a preprocessor line: in brace languages, the start
// of a new top-level declaration.
func startsDeclaration(line string) bool {
	if line == "" || line[0] == ' ' || line[0] == '\t' {
		return false
	}
	return !strings.ContainsRune(")]}#", rune(line[0]))
}

func firstLine(text string) string {
	return text[:lineEnd(text, 0)]
}

// limitScopeByIndentation is the scope rule of indentation languages.
// Lines that start inside brackets or inside a multi-line string are
// continuation lines whose indentation means nothing.
func limitScopeByIndentation(cc *cursorContext, text string, tok bracketTokens) string {
	tab := cc.indentStyle().Width
	cursorLine := cc.linePrefix + firstLine(text)
	level := indentColumns(leadingWhitespace(cursorLine), tab)
	if isBlank(cursorLine) {
		level = indentColumns(cc.linePrefix, tab)
	}
	above := cc.prefix[:len(cc.prefix)-len(cc.linePrefix)]
	header := headerIndent(above, level, tab)
	wentDeeper := false
	lineStart := len(firstLine(text)) + 1
	for lineStart <= len(text) {
		end := lineEnd(text, lineStart)
		line := text[lineStart:end]
		if !isBlank(line) && tok.depthAt(lineStart) <= 0 && !tok.inLiteral(lineStart) {
			n := indentColumns(leadingWhitespace(line), tab)
			switch {
			case n > level:
				wentDeeper = true
			case n < level && n == header && startsWithKeyword(line, continuationKeywords):
				// The chain goes on (`elif`, `else`, `except`): the
				// completion now writes the header's statement, and what
				// follows the chain at the header's level belongs to the
				// enclosing block, as the rest of the chain does.
				level, header = n, headerIndent(above, n, tab)
			case n < level:
				return strings.TrimRight(text[:lineStart], " \t\n")
			case n == level && level == 0 && wentDeeper && !startsWithKeyword(line, continuationKeywords):
				// A new top-level statement after a finished block.
				return strings.TrimRight(text[:lineStart], " \t\n")
			}
		}
		lineStart = end + 1
	}
	return text
}

// headerIndent returns the indentation of the nearest line above the
// cursor indented less than level (the header of the cursor's block), or -1.
func headerIndent(above string, level, tab int) int {
	for lines := 0; above != "" && lines < maxWindowLines; lines++ {
		above = strings.TrimSuffix(above, "\n")
		i := strings.LastIndexByte(above, '\n')
		line := above[i+1:]
		above = above[:i+1]
		if isBlank(line) {
			continue
		}
		if n := indentColumns(leadingWhitespace(line), tab); n < level {
			return n
		}
	}
	return -1
}

// indentColumns counts the columns of leading whitespace, a tab advancing
// to the next multiple of tab.
func indentColumns(ws string, tab int) int {
	if tab <= 0 {
		tab = 4
	}
	n := 0
	for i := 0; i < len(ws); i++ {
		if ws[i] == '\t' {
			n += tab - n%tab
		} else {
			n++
		}
	}
	return n
}
