package gather

import "github.com/servalhq/serval/context/secrets"

// redactDeclarations and redactSnippets take credentials out of text from
// other files before it can become part of a request: an allowed file can
// still hold a token, a key or a password.
func redactDeclarations(decls []Declaration) []Declaration {
	for i := range decls {
		decls[i].Body, _ = secrets.Redact(decls[i].Body)
	}
	return decls
}

func redactSnippets(snips []Snippet) []Snippet {
	for i := range snips {
		snips[i].Body, _ = secrets.Redact(snips[i].Body)
	}
	return snips
}
