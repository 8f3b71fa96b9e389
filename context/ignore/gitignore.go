// Package ignore decides which workspace files may feed completion context:
// it implements .gitignore matching (nested files, negation, anchoring,
// "**", directory-only patterns) and the exclusion globs that keep
// secret-looking files out whatever .gitignore says.
package ignore

import (
	"bufio"
	"bytes"
	"regexp"
	"strings"
)

// pattern is one .gitignore line compiled to a regular expression over
// slash-separated paths relative to the directory holding the file.
type pattern struct {
	re      *regexp.Regexp
	negate  bool
	dirOnly bool
}

// Patterns is the compiled content of one .gitignore file.
type Patterns struct {
	list []pattern
}

// ParsePatterns compiles the lines of a .gitignore file. Lines that do not
// compile (a malformed character class) are skipped, as git skips them.
func ParsePatterns(data []byte) *Patterns {
	p := &Patterns{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		if pat, ok := compileLine(sc.Text()); ok {
			p.list = append(p.list, pat)
		}
	}
	return p
}

func compileLine(line string) (pattern, bool) {
	line = strings.TrimSuffix(line, "\r")
	// Trailing spaces are ignored unless escaped with a backslash.
	for strings.HasSuffix(line, " ") && !strings.HasSuffix(line, "\\ ") {
		line = line[:len(line)-1]
	}
	if line == "" || strings.HasPrefix(line, "#") {
		return pattern{}, false
	}
	var p pattern
	if strings.HasPrefix(line, "!") {
		p.negate = true
		line = line[1:]
	} else if strings.HasPrefix(line, `\!`) || strings.HasPrefix(line, `\#`) {
		line = line[1:]
	}
	if strings.HasSuffix(line, "/") {
		p.dirOnly = true
		line = strings.TrimRight(line, "/")
	}
	if line == "" {
		return pattern{}, false
	}
	// A slash at the start or in the middle anchors the pattern to the
	// .gitignore's directory; otherwise it matches a name at any depth.
	anchored := strings.Contains(line, "/")
	line = strings.TrimPrefix(line, "/")
	expr, ok := globToRegexp(line)
	if !ok {
		return pattern{}, false
	}
	if !anchored {
		expr = "(?:.*/)?" + expr
	}
	re, err := regexp.Compile("^" + expr + "$")
	if err != nil {
		return pattern{}, false
	}
	p.re = re
	return p, true
}

// globToRegexp translates gitignore glob syntax to a regular expression.
func globToRegexp(glob string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(glob); i++ {
		c := glob[i]
		switch {
		case c == '*' && strings.HasPrefix(glob[i:], "**"):
			before := i == 0 || glob[i-1] == '/'
			after := i+2 == len(glob) || glob[i+2] == '/'
			if !before || !after {
				// "a**b" is two ordinary stars.
				b.WriteString("[^/]*")
				i++
				continue
			}
			switch {
			case i+2 == len(glob): // "x/**" or "**": everything below
				b.WriteString(".*")
				i++
			default: // "**/x" or "a/**/b": zero or more directories
				b.WriteString("(?:.*/)?")
				i += 2
			}
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '[':
			end := strings.IndexByte(glob[i+1:], ']')
			if end < 0 {
				return "", false
			}
			class := glob[i+1 : i+1+end]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			class = strings.ReplaceAll(class, `\`, `\\`)
			b.WriteString("[" + class + "]")
			i += end + 1
		case c == '\\' && i+1 < len(glob):
			i++
			b.WriteString(regexp.QuoteMeta(glob[i : i+1]))
		default:
			b.WriteString(regexp.QuoteMeta(glob[i : i+1]))
		}
	}
	return b.String(), true
}

// Match reports whether rel (slash-separated, relative to the .gitignore's
// directory) is matched, and whether the last matching line re-included it.
// matched is false when no line applies.
func (p *Patterns) Match(rel string, isDir bool) (ignored, matched bool) {
	if p == nil {
		return false, false
	}
	for i := len(p.list) - 1; i >= 0; i-- {
		pat := p.list[i]
		if pat.dirOnly && !isDir {
			continue
		}
		if pat.re.MatchString(rel) {
			return !pat.negate, true
		}
	}
	return false, false
}
