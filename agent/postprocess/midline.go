package postprocess

import "strings"

// limitMidLine keeps a completion made mid-line to its first line, since
// the text after the cursor has to follow it on the same line. There are
// two exceptions. A construct the first line opens and a later line closes,
// when the rest of the cursor's line closes what encloses it, as in
// `foo(` + `func() {` ... `}` + `)`: the completion runs to the end of the
// line that closes it. And a cursor between an auto-closed pair (`{|}`)
// with a completion that starts a new line: that is a body, left whole.
func limitMidLine(cc *cursorContext, text string) string {
	nl := strings.IndexByte(text, '\n')
	if !cc.midLine() || nl < 0 {
		return text
	}
	first := text[:nl]
	if isBlank(first) && betweenPair(cc.linePrefix, cc.lineSuffix) {
		// `{|}` and a completion starting on a new line: it is the body
		// of the pair; limitScope decides where it ends.
		return text
	}
	if !closesEnclosing(cc.lineSuffix) {
		return first
	}
	depth := 0
	firstLineDepth := 0
	for _, b := range scanBrackets(lexicalFor(cc.lang), text) {
		if isOpener(b.ch) {
			depth++
		} else {
			depth--
		}
		if b.off < nl {
			firstLineDepth = depth
			continue
		}
		if firstLineDepth <= 0 {
			break
		}
		if depth <= 0 {
			return text[:lineEnd(text, b.off)]
		}
	}
	return first
}

// closesEnclosing reports whether the text after the cursor starts by
// closing something: a bracket, a quote, or a statement end.
func closesEnclosing(lineSuffix string) bool {
	s := strings.TrimLeft(lineSuffix, " \t")
	return s != "" && strings.ContainsAny(s[:1], ")]}\"'`;,")
}

// betweenPair reports a cursor right between an opening bracket and its
// closer, as editors leave it after auto-closing: `{|}`, `(|)`, `[|]`.
func betweenPair(linePrefix, lineSuffix string) bool {
	p := strings.TrimRight(linePrefix, " \t")
	s := strings.TrimLeft(lineSuffix, " \t")
	return p != "" && s != "" && isOpener(p[len(p)-1]) && closerOf(p[len(p)-1]) == s[0]
}
