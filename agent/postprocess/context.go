package postprocess

import (
	"strings"
	"unicode/utf8"
)

// Bounds that keep every call's work proportional to the completion, not
// to the document: the filters never look further than these windows.
const (
	maxPrefixWindow    = 8 << 10
	maxSuffixWindow    = 8 << 10
	maxCompletionBytes = 4 << 10 // ~1,000 tokens, far beyond any useful completion
	maxIndentWidth     = 16      // wider settings are taken as this
)

// cursorContext is what the filters know about the cursor's surroundings.
// All strings use LF line ends.
type cursorContext struct {
	lang   string // LSP language id, lower case
	prefix string // window of the text before the cursor
	suffix string // window of the text after the cursor

	linePrefix string // the cursor's line up to the cursor
	lineSuffix string // the cursor's line after the cursor, without its line end

	indent    Indent // as given; see indentStyle
	detected  *Indent
	minLength int  // resolved: < 0 disables
	crlf      bool // the document uses CRLF line ends
}

// normalize bounds and cleans the input and returns the cursor context and
// the completion to filter.
func normalize(in Input) (*cursorContext, string) {
	prefix := tailWindow(in.Prefix, maxPrefixWindow)
	suffix := headWindow(in.Suffix, maxSuffixWindow)
	cc := &cursorContext{
		lang: strings.ToLower(in.Language),
		crlf: strings.Contains(prefix, "\r\n") || strings.Contains(suffix, "\r\n"),
	}
	cc.prefix = cleanText(prefix)
	cc.suffix = cleanText(suffix)
	cc.linePrefix = cc.prefix[strings.LastIndexByte(cc.prefix, '\n')+1:]
	cc.lineSuffix = cc.suffix
	if i := strings.IndexByte(cc.suffix, '\n'); i >= 0 {
		cc.lineSuffix = cc.suffix[:i]
	}
	cc.indent = in.Indent
	cc.indent.Width = min(cc.indent.Width, maxIndentWidth)
	cc.minLength = in.MinLength
	if cc.minLength == 0 {
		cc.minLength = DefaultMinLength
	}

	completion := in.Completion
	if len(completion) > maxCompletionBytes {
		completion = completion[:maxCompletionBytes]
		if i := strings.LastIndexByte(completion, '\n'); i > 0 {
			completion = completion[:i]
		}
	}
	return cc, cleanText(completion)
}

// cleanText turns CRLF and lone CR line ends (both are line ends in LSP)
// into LF and drops invalid UTF-8 and NUL bytes.
func cleanText(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "")
	}
	if strings.ContainsAny(s, "\r\x00") {
		s = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\x00", "").Replace(s)
	}
	return s
}

// rawOffset maps an offset in cleanText(line) back to line, a single line
// of the caller's text: cleaning dropped its NUL bytes and invalid UTF-8.
func rawOffset(line string, cleaned int) int {
	i, kept := 0, 0
	for i < len(line) && kept < cleaned {
		r, size := utf8.DecodeRuneInString(line[i:])
		if r != 0 && (r != utf8.RuneError || size > 1) {
			kept += size
		}
		i += size
	}
	// Bytes dropped right after the last kept one stay outside the range.
	return i
}

// rawLineSuffix is the cursor's line after the cursor in the caller's
// suffix, up to its line end (LF, CRLF or CR).
func rawLineSuffix(suffix string) string {
	if i := strings.IndexAny(suffix, "\r\n"); i >= 0 {
		return suffix[:i]
	}
	return suffix
}

// tailWindow returns at most max bytes from the end of s, starting at a line.
func tailWindow(s string, max int) string {
	if len(s) <= max {
		return s
	}
	s = s[len(s)-max:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// headWindow returns at most max bytes from the start of s, ending at a line.
func headWindow(s string, max int) string {
	if len(s) <= max {
		return s
	}
	s = s[:max]
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[:i+1]
	}
	return s
}

// isBlank reports whether s holds only whitespace.
func isBlank(s string) bool {
	return strings.TrimSpace(s) == ""
}

// leadingWhitespace returns the spaces and tabs that start line.
func leadingWhitespace(line string) string {
	return line[:len(line)-len(strings.TrimLeft(line, " \t"))]
}

// indentStyle returns the document's indentation: Input.Indent when set,
// otherwise detected from the text around the cursor (once, and only when
// a filter asks: single-line completions never need it).
func (cc *cursorContext) indentStyle() Indent {
	if cc.indent.Width > 0 {
		return cc.indent
	}
	if cc.detected == nil {
		in := detectIndent(cc.lang, cc.prefix, cc.suffix, cc.indent.Tabs)
		cc.detected = &in
	}
	return *cc.detected
}

// midLine reports whether text other than whitespace follows the cursor on
// its line.
func (cc *cursorContext) midLine() bool {
	return strings.TrimSpace(cc.lineSuffix) != ""
}

// suffixLines returns up to n lines of the suffix after the cursor's line,
// skipping blank ones.
func (cc *cursorContext) suffixLines(n int) []string {
	rest := cc.suffix[len(cc.lineSuffix):]
	var lines []string
	for rest != "" && len(lines) < n {
		rest = strings.TrimPrefix(rest, "\n")
		line := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i]
		}
		rest = rest[len(line):]
		if !isBlank(line) {
			lines = append(lines, line)
		}
	}
	return lines
}
