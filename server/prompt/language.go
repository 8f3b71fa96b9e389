package prompt

import (
	"path"
	"strings"
)

// Language is what the prompt builder knows about a programming language:
// how to write a comment and which keywords start a top-level declaration.
type Language struct {
	// ID is the VS Code language id ("go", "python", ...), or "unknown".
	ID string
	// LineComment is the line comment marker ("//", "#", "--"); empty for
	// languages that only have block comments.
	LineComment string
	// BlockOpen and BlockClose delimit a comment in languages without line
	// comments (HTML, CSS); used one line at a time.
	BlockOpen, BlockClose string
	// TopLevelKeywords start a declaration at column 0; a generated line
	// starting with one ends the completion (one block at a time).
	TopLevelKeywords []string
}

var (
	slashes = Language{LineComment: "//"}
	hashes  = Language{LineComment: "#"}
	dashes  = Language{LineComment: "--"}
)

func lang(base Language, keywords ...string) Language {
	base.TopLevelKeywords = keywords
	return base
}

var (
	jsKeywords = []string{"abstract", "async", "class", "const", "declare", "enum", "export", "function",
		"import", "interface", "let", "module", "namespace", "private", "public", "type", "var"}
	cKeywords = []string{"#define", "#if", "#include", "#pragma", "enum", "extern", "static", "struct",
		"typedef", "union", "void", "int", "char", "unsigned", "long", "float", "double", "const", "bool"}
)

// languages is keyed by VS Code language id.
var languages = map[string]Language{
	"go":              lang(slashes, "func", "interface", "struct", "package", "type", "import", "var", "const"),
	"python":          lang(hashes, "def", "from", "class", "import", "async", "@", "if __name__"),
	"javascript":      lang(slashes, jsKeywords...),
	"javascriptreact": lang(slashes, jsKeywords...),
	"typescript":      lang(slashes, jsKeywords...),
	"typescriptreact": lang(slashes, jsKeywords...),
	"rust":            lang(slashes, "fn", "trait", "impl", "enum", "pub", "extern", "static", "unsafe", "use", "mod", "struct", "const", "type", "#["),
	"java":            lang(slashes, "abstract", "class", "enum", "final", "import", "interface", "package", "private", "protected", "public", "record", "sealed", "static"),
	"kotlin":          lang(slashes, "abstract", "class", "data", "enum", "fun", "import", "interface", "internal", "object", "open", "package", "private", "public", "sealed", "typealias", "val", "var"),
	"scala":           lang(slashes, "abstract", "case", "class", "def", "enum", "extension", "given", "implicit", "import", "object", "package", "sealed", "trait", "val", "var"),
	"c":               lang(slashes, cKeywords...),
	"cpp":             lang(slashes, append([]string{"class", "namespace", "template", "using", "auto"}, cKeywords...)...),
	"cuda-cpp":        lang(slashes, append([]string{"class", "namespace", "template", "using", "auto", "__global__", "__device__"}, cKeywords...)...),
	"objective-c":     lang(slashes, append([]string{"@interface", "@implementation", "@end", "#import"}, cKeywords...)...),
	"objective-cpp":   lang(slashes, append([]string{"@interface", "@implementation", "@end", "#import", "class", "namespace"}, cKeywords...)...),
	"csharp":          lang(slashes, "abstract", "class", "enum", "interface", "internal", "namespace", "public", "private", "protected", "record", "sealed", "static", "struct", "using"),
	"ruby":            lang(hashes, "def", "class", "module", "require", "require_relative"),
	"php":             lang(slashes, "abstract", "class", "enum", "final", "function", "interface", "namespace", "private", "protected", "public", "trait", "use"),
	"swift":           lang(slashes, "@", "actor", "class", "enum", "extension", "fileprivate", "final", "func", "import", "internal", "let", "open", "private", "protocol", "public", "struct", "var"),
	"dart":            lang(slashes, "abstract", "class", "enum", "extension", "import", "library", "mixin", "part", "typedef", "void"),
	"lua":             lang(dashes, "function", "local"),
	"shellscript":     lang(hashes, "function"),
	"powershell":      lang(hashes, "function"),
	"perl":            lang(hashes, "sub", "package", "use"),
	"r":               lang(hashes, "library"),
	"julia":           lang(hashes, "function", "module", "struct", "using", "import", "abstract", "mutable"),
	"elixir":          lang(hashes, "defmodule", "def", "defp"),
	"haskell":         lang(dashes, "module", "import", "data", "type", "newtype", "class", "instance"),
	"sql":             lang(dashes),
	"zig":             lang(slashes, "fn", "pub", "const", "var", "test"),
	"solidity":        lang(slashes, "contract", "function", "import", "interface", "library", "pragma"),
	"yaml":            lang(hashes),
	"toml":            lang(hashes),
	"dockerfile":      lang(hashes),
	"makefile":        lang(hashes),
	"clojure":         lang(Language{LineComment: ";;"}),
	"erlang":          lang(Language{LineComment: "%"}),
	"latex":           lang(Language{LineComment: "%"}),
	"vim":             lang(Language{LineComment: `"`}),
	"html":            lang(Language{BlockOpen: "<!--", BlockClose: "-->"}),
	"xml":             lang(Language{BlockOpen: "<!--", BlockClose: "-->"}),
	"markdown":        lang(Language{BlockOpen: "<!--", BlockClose: "-->"}),
	"vue":             lang(Language{BlockOpen: "<!--", BlockClose: "-->"}),
	"svelte":          lang(Language{BlockOpen: "<!--", BlockClose: "-->"}),
	"css":             lang(Language{BlockOpen: "/*", BlockClose: "*/"}),
	"scss":            lang(slashes),
	"less":            lang(slashes),
}

// languageAliases maps other common spellings to VS Code ids.
var languageAliases = map[string]string{
	"golang": "go", "py": "python", "python3": "python", "js": "javascript", "jsx": "javascriptreact",
	"ts": "typescript", "tsx": "typescriptreact", "rs": "rust", "kt": "kotlin", "c++": "cpp",
	"cs": "csharp", "c#": "csharp", "rb": "ruby", "sh": "shellscript", "bash": "shellscript",
	"zsh": "shellscript", "shell": "shellscript", "objc": "objective-c", "ps1": "powershell",
	"hs": "haskell", "ex": "elixir", "jl": "julia", "tex": "latex", "yml": "yaml",
}

// extensionLanguages maps file extensions to VS Code ids, for requests that
// carry a file path but no language.
var extensionLanguages = map[string]string{
	".go": "go", ".py": "python", ".pyi": "python", ".js": "javascript", ".mjs": "javascript",
	".cjs": "javascript", ".jsx": "javascriptreact", ".ts": "typescript", ".mts": "typescript",
	".cts": "typescript", ".tsx": "typescriptreact", ".rs": "rust", ".java": "java", ".kt": "kotlin",
	".kts": "kotlin", ".scala": "scala", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp",
	".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp", ".cu": "cuda-cpp", ".m": "objective-c",
	".mm": "objective-cpp", ".cs": "csharp", ".rb": "ruby", ".php": "php", ".swift": "swift",
	".dart": "dart", ".lua": "lua", ".sh": "shellscript", ".bash": "shellscript", ".zsh": "shellscript",
	".ps1": "powershell", ".pl": "perl", ".pm": "perl", ".r": "r", ".jl": "julia", ".ex": "elixir",
	".exs": "elixir", ".hs": "haskell", ".sql": "sql", ".zig": "zig", ".sol": "solidity",
	".yaml": "yaml", ".yml": "yaml", ".toml": "toml", ".clj": "clojure", ".erl": "erlang",
	".tex": "latex", ".vim": "vim", ".html": "html", ".htm": "html", ".xml": "xml", ".md": "markdown",
	".vue": "vue", ".svelte": "svelte", ".css": "css", ".scss": "scss", ".less": "less",
}

// unknownLanguage is used when neither the language id nor the file path is
// recognised: generic stop words, `//` comments for snippets.
var unknownLanguage = Language{ID: "unknown", LineComment: "//"}

// LookupLanguage returns the language for a VS Code language id (or a common
// alias), falling back to the file path's extension, then to "unknown".
func LookupLanguage(id, filepath string) Language {
	key := strings.ToLower(strings.TrimSpace(id))
	if alias, ok := languageAliases[key]; ok {
		key = alias
	}
	l, ok := languages[key]
	if !ok && filepath != "" {
		base := strings.ToLower(path.Base(strings.ReplaceAll(filepath, `\`, "/")))
		switch {
		case base == "dockerfile" || strings.HasPrefix(base, "dockerfile."):
			key = "dockerfile"
		case base == "makefile" || base == "gnumakefile":
			key = "makefile"
		default:
			key = extensionLanguages[path.Ext(base)]
		}
		l, ok = languages[key]
	}
	if !ok {
		return unknownLanguage
	}
	l.ID = key
	return l
}

// Comment writes text as comment lines of the language, one per input line,
// each ending in a newline: "// text" for line comments, "<!-- text -->"
// for block-only languages. A closing delimiter inside the text is broken
// up so the comment cannot end early.
func (l Language) Comment(text string) string {
	var b strings.Builder
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\r\n")
		if l.LineComment != "" {
			b.WriteString(l.LineComment)
			if line != "" {
				b.WriteByte(' ')
				b.WriteString(line)
			}
		} else {
			line = strings.ReplaceAll(line, l.BlockClose, l.BlockClose[:1]+" "+l.BlockClose[1:])
			b.WriteString(l.BlockOpen + " " + line + " " + l.BlockClose)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
