package prompt

// Request is what a prompt is built from, in the server's own terms: the
// code around the cursor and the context the client gathered. The HTTP layer
// converts the wire request (api.CompletionRequest) into it.
type Request struct {
	// Language is the client's language id; Filepath also helps to tell it.
	Language string
	Filepath string
	Prefix   string
	Suffix   string
	// Context, in priority order: declarations of symbols near the cursor,
	// snippets from changed files, snippets from recently opened files.
	Declarations    []Snippet
	ChangedSnippets []Snippet
	OpenedSnippets  []Snippet
	// NoSnippets leaves all context out (Tabby's
	// disable_retrieval_augmented_code_completion).
	NoSnippets bool
	// RawPrompt, when set, is sent as is instead of a built prompt.
	RawPrompt string
	// MaxTokens is the output budget asked for; 0 means the configured one.
	MaxTokens int
	// MaxPromptTokens, when above 0, caps the tokens of prefix, suffix and
	// context together below the configured budget, shared among them in
	// the same proportions. The completion service sets it while requests
	// queue for the engine (completion.OverloadPromptTokens).
	MaxPromptTokens int
}

// Snippet is a piece of context code; Score is the client's relevance score
// (unused for declarations).
type Snippet struct {
	Filepath string
	Body     string
	Score    float64
}
