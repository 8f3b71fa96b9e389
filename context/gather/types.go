// Package gather assembles the code context of one completion: syntax-aware
// prefix/suffix windows, declarations from the workspace index and snippets
// from recent work. The agent feeds it document events and asks it for a
// Result per completion; everything it needs is kept in memory so that
// Gather does no disk I/O.
package gather

import "github.com/servalhq/serval/server/api"

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
	Offset int // byte offset of the cursor in the document's current text
	// Budgets in characters; zero means the Gatherer's configured default.
	PrefixBudget  int
	SuffixBudget  int
	ContextBudget int // declarations and snippets together
}

// Result is the context for one completion, ready for api.Segments.
type Result struct {
	Prefix          string
	Suffix          string
	Declarations    []api.Declaration
	ChangedSnippets []api.Snippet // relevant_snippets_from_changed_files
	OpenedSnippets  []api.Snippet // relevant_snippets_from_recently_opened_files
}
