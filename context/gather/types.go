// Package gather assembles the code context of one completion: syntax-aware
// prefix/suffix windows, declarations from the workspace index and snippets
// from recent work. The agent feeds it document events and asks it for a
// Result per completion; everything it needs is kept in memory so that
// Gather does no disk I/O.
package gather

// Point is a position as tree-sitter counts it: a zero-based row and a byte column.
type Point struct {
	Row    uint32
	Column uint32
}

// Edit describes one text change in the byte offsets tree-sitter's incremental
// parsing needs (the same fields as sitter.EditInput).
type Edit struct {
	StartByte   uint32
	OldEndByte  uint32
	NewEndByte  uint32
	StartPoint  Point
	OldEndPoint Point
	NewEndPoint Point
}

// Request asks for the context at a cursor.
type Request struct {
	URI    string
	Offset int // byte offset of the cursor in Text
	// Text is the document's text that Offset refers to (the caller's
	// snapshot). Windows are cut from it; when it is not the text the
	// Gatherer holds (an edit has arrived since), they are cut without the
	// syntax tree. Nil means the Gatherer's current text.
	Text []byte
	// Window budgets in characters; zero means the Gatherer's configured
	// default.
	PrefixBudget int
	SuffixBudget int
	// ContextBudget bounds declarations and snippets together, in
	// characters like the windows; zero means the configured default.
	ContextBudget int
}

// Windows is the text around the cursor that the model completes: the
// prefix (enclosing headers included) and the suffix. The agent uses the
// same windows as the request's segments, its cache key and
// post-processing's input.
type Windows struct {
	Prefix string
	Suffix string
}

// Related is the context beyond the windows: code from elsewhere that the
// model may need.
type Related struct {
	Declarations    []Declaration
	ChangedSnippets []Snippet // snippets from files changed since the last commit
	OpenedSnippets  []Snippet // snippets from recently opened files
}

// Result is the context for one completion. The agent turns it into the
// server's request (Tabby's segments); this package knows nothing of the wire.
type Result struct {
	Windows
	Related
}

// Declaration is the head of a symbol's definition used near the cursor.
type Declaration struct {
	Filepath string // relative to its workspace folder
	Body     string
}

// Snippet is a chunk of code from another file and its similarity to the
// code at the cursor.
type Snippet struct {
	Filepath string
	Body     string
	Score    float64
}
