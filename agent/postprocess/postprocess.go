// Package postprocess turns the raw text a code model produced at a cursor
// into the text the editor shows as ghost text, or discards it.
//
// The single entry point is Process; Complete is a cheap streaming hint.
// Process is a pipeline of small pure filters, applied in this order:
//
//  1. normalize: bound the prefix/suffix to windows around the cursor, turn
//     CRLF into LF (restored at the end), drop invalid UTF-8 and NUL bytes,
//     cap the completion at maxCompletionBytes on a line boundary.
//  2. empty: nothing but whitespace is a discard.
//  3. trimLeadingSpace: whitespace the line already has before the cursor is
//     not repeated.
//  4. reindent: every line after the first is re-indented to the file's
//     style (tabs or spaces and width, from Input.Indent or detected).
//  5. limitMidLine: text after the cursor on its line keeps the completion
//     to one line, unless it opens a construct it closes again on a later
//     line (a function literal inside a call, say) or it is the body
//     between an auto-closed pair (`{|}`).
//  6. limitScope: the completion is cut where it leaves the block the cursor
//     is in, starts a new top-level declaration, or finishes the
//     declaration it started with, decided on a tree-sitter parse of a
//     window of prefix + completion + suffix; `} else {`, `catch`, `elif`
//     and the like continue the block. Languages without a grammar fall
//     back to a lexical bracket scan and indentation.
//  7. cutRepetition: 5+ identical or near-identical consecutive lines, a
//     block repeated back to back, a line ending in a repeating pattern.
//  8. trimSuffixOverlap: trailing lines that repeat the next lines of the
//     suffix are removed, and so is a tail repeating the rest of the line.
//  9. dropSuffixDuplicate: a completion whose first lines are the next
//     lines of the suffix (up to 5% edit distance) is a discard.
//  10. trimTrailingSpace: trailing whitespace of every line and trailing
//     blank lines go.
//  11. matchClosers: closing brackets and quotes the editor already put
//     after the cursor are covered by the replace range when the completion
//     writes them too (Result.ReplaceSuffixLen), so none is doubled or lost.
//  12. dropShort: fewer than MinLength characters, or only punctuation, is
//     a discard.
//
// All filters are pure functions of a cursorContext and the text so far;
// none of them panics on any input (see FuzzProcess).
package postprocess

import "strings"

// DefaultMinLength is the MinLength used when Input.MinLength is zero.
// Three, not Tabby's four: "err", "nil" and "i++" are worth a Tab press;
// anything shorter is faster to type than to read.
const DefaultMinLength = 3

// Input is one raw completion with the document around the cursor.
type Input struct {
	// Language is the LSP language id ("go", "python", "typescriptreact", ...).
	Language string
	// Prefix is the document text before the cursor and Suffix the text
	// after it; either may be a window of the document. CRLF line ends are
	// accepted and preserved in the result.
	Prefix, Suffix string
	// Completion is the model's raw output.
	Completion string
	// Indent is the editor's indentation setting; the zero value means
	// "detect it from the document".
	Indent Indent
	// MinLength is the fewest non-space characters a completion must have;
	// zero means DefaultMinLength and a negative value disables the check.
	MinLength int
}

// Indent describes how the document indents.
type Indent struct {
	// Tabs reports indentation with tab characters.
	Tabs bool
	// Width is the number of columns of one level (the tab width with Tabs);
	// zero means detect the style from the document.
	Width int
}

// Result is what to show the user.
type Result struct {
	// Text is inserted at the cursor.
	Text string
	// ReplaceSuffixLen is the number of bytes right after the cursor, on
	// the cursor's line, that Text replaces: closers the editor inserted
	// automatically and the completion writes again.
	ReplaceSuffixLen int
	// Discarded reports that nothing should be shown; Reason says why.
	Discarded bool
	Reason    string
}

// Discard reasons.
const (
	ReasonEmpty           = "empty"
	ReasonTooShort        = "too short"
	ReasonPunctuation     = "only punctuation"
	ReasonDuplicateSuffix = "repeats the suffix"
	ReasonOutOfScope      = "outside the cursor's block"
	ReasonRepetition      = "repetition"
)

// Process applies the post-processing pipeline to in.Completion.
func Process(in Input) Result {
	r, _ := process(in)
	return r
}

// Finished reports whether the completion streamed so far is already
// finished: the pipeline cuts it (or discards it after a cut), and a longer
// stream could only add text that would be cut as well, because the same
// result comes from its complete lines alone. The agent may stop
// generating when it returns true.
func Finished(in Input) bool {
	r, cut := process(in)
	if !cut {
		return false
	}
	// Decide only on whole lines: the text after the last newline may still
	// grow into something that changes the decision (`}` into `} else {`).
	raw := in.Completion
	last := strings.LastIndexByte(raw, '\n')
	if last < 0 {
		return false
	}
	in.Completion = raw[:last+1]
	r2, cut2 := process(in)
	return cut2 && r2 == r
}

// process runs the pipeline and also reports whether a filter cut the tail
// of the completion (scope, mid-line, repetition), which Complete needs.
func process(in Input) (Result, bool) {
	cc, text := normalize(in)
	if isBlank(text) {
		return discard(ReasonEmpty), false
	}
	text = trimLeadingSpace(cc, text)
	text = reindent(cc, text)

	before := text
	text = limitMidLine(cc, text)
	text = limitScope(cc, text)
	if isBlank(text) {
		return discard(ReasonOutOfScope), true
	}
	text = cutRepetition(text)
	if isBlank(text) {
		return discard(ReasonRepetition), true
	}
	cut := len(text) < len(before)

	text = trimSuffixOverlap(cc, text)
	if dropSuffixDuplicate(cc, text) || isBlank(text) {
		return discard(ReasonDuplicateSuffix), cut
	}
	text = trimTrailingSpace(cc, text)

	text, replace := matchClosers(cc, text)
	if reason := dropShort(cc, text); reason != "" {
		return discard(reason), cut
	}
	if cc.crlf {
		text = strings.ReplaceAll(text, "\n", "\r\n")
	}
	if replace > 0 {
		replace = rawOffset(rawLineSuffix(in.Suffix), replace)
	}
	return Result{Text: text, ReplaceSuffixLen: replace}, cut
}

func discard(reason string) Result {
	return Result{Discarded: true, Reason: reason}
}
