package postprocess

import "strings"

// bracket is one bracket character outside strings and comments.
type bracket struct {
	off int  // byte offset in the scanned text
	ch  byte // one of ( ) [ ] { }
}

func isOpener(ch byte) bool { return ch == '(' || ch == '[' || ch == '{' }
func isCloser(ch byte) bool { return ch == ')' || ch == ']' || ch == '}' }

// closerOf returns the closing bracket of an opening one.
func closerOf(ch byte) byte {
	switch ch {
	case '(':
		return ')'
	case '[':
		return ']'
	case '{':
		return '}'
	}
	return 0
}

// lexical describes the comment and string syntax of a language family,
// enough to tell brackets in code from brackets in strings and comments
// when there is no tree-sitter grammar (or none is needed).
type lexical struct {
	hashComment  bool // # starts a line comment
	slashComment bool // // and /* */
	backtick     bool // `...` strings spanning lines
	tripleQuote  bool // """...""" and '''...'''
	charQuote    bool // ' only starts a char literal ('x', '\n'), not a string (Rust lifetimes)
}

func lexicalFor(lang string) lexical {
	switch lang {
	case "python":
		return lexical{hashComment: true, tripleQuote: true}
	case "ruby", "shellscript", "sh", "bash", "perl", "r", "yaml", "toml", "makefile", "elixir", "nim", "coffeescript", "powershell":
		return lexical{hashComment: true}
	case "php":
		return lexical{hashComment: true, slashComment: true}
	case "javascript", "javascriptreact", "typescript", "typescriptreact", "go", "kotlin":
		return lexical{slashComment: true, backtick: true}
	case "rust":
		return lexical{slashComment: true, charQuote: true}
	}
	return lexical{slashComment: true}
}

// scanBrackets returns the brackets of text that lie outside strings and
// comments, assuming text starts in code.
func scanBrackets(lx lexical, text string) []bracket {
	var out []bracket
	for i := 0; i < len(text); i++ {
		switch ch := text[i]; ch {
		case '(', ')', '[', ']', '{', '}':
			out = append(out, bracket{off: i, ch: ch})
		case '#':
			if lx.hashComment {
				i = lineEnd(text, i) - 1
			}
		case '/':
			if !lx.slashComment || i+1 >= len(text) {
				continue
			}
			switch text[i+1] {
			case '/':
				i = lineEnd(text, i) - 1
			case '*':
				end := strings.Index(text[i+2:], "*/")
				if end < 0 {
					return out
				}
				i += 2 + end + 1
			}
		case '`':
			if lx.backtick {
				end := strings.IndexByte(text[i+1:], '`')
				if end < 0 {
					return out
				}
				i += 1 + end
			}
		case '"', '\'':
			if lx.tripleQuote && strings.HasPrefix(text[i:], strings.Repeat(string(ch), 3)) {
				end := strings.Index(text[i+3:], strings.Repeat(string(ch), 3))
				if end < 0 {
					return out
				}
				i += 3 + end + 2
				continue
			}
			if ch == '\'' && lx.charQuote {
				// 'x' or '\n' is a char; anything else is a lifetime.
				if j := strings.IndexByte(text[i+1:min(len(text), i+5)], '\''); j >= 0 && j <= 2 && (j == 1 || text[i+1] == '\\') {
					i += 1 + j
				}
				continue
			}
			i = stringEnd(text, i)
		}
	}
	return out
}

// lineEnd returns the offset of the newline ending the line at i, or len(text).
func lineEnd(text string, i int) int {
	if j := strings.IndexByte(text[i:], '\n'); j >= 0 {
		return i + j
	}
	return len(text)
}

// stringEnd returns the offset of the quote closing the string opened at i,
// or the end of its line when it is not closed there.
func stringEnd(text string, i int) int {
	q := text[i]
	for j := i + 1; j < len(text); j++ {
		switch text[j] {
		case '\\':
			j++
		case q:
			return j
		case '\n':
			return j - 1
		}
	}
	return len(text)
}

// bracketDepth follows the brackets of a text that starts at the cursor:
// it returns the depth after the scan (openers minus closers, closers of
// brackets opened before the cursor count as negative) and the unmatched
// closers in order.
func bracketDepth(brackets []bracket) (depth int, unmatched []bracket) {
	var stack []byte
	for _, b := range brackets {
		if isOpener(b.ch) {
			stack = append(stack, b.ch)
			depth++
			continue
		}
		depth--
		if n := len(stack); n > 0 {
			stack = stack[:n-1]
		} else {
			unmatched = append(unmatched, b)
		}
	}
	return depth, unmatched
}
