package bench

import (
	"path/filepath"
	"strings"
)

// document is the editor's copy of one open file and its cursor.
type document struct {
	uri       string
	text      string
	version   int
	cursor    int // byte offset
	line      int // cursor line
	lineStart int // byte offset where the cursor line starts
}

func (d *document) position() map[string]int {
	return map[string]int{"line": d.line, "character": utf16Len(d.text[d.lineStart:d.cursor])}
}

// insert types s at the cursor and returns the LSP change event.
func (d *document) insert(s string, full bool) map[string]any {
	pos := d.position()
	d.text = d.text[:d.cursor] + s + d.text[d.cursor:]
	d.cursor += len(s)
	if n := strings.Count(s, "\n"); n > 0 {
		d.line += n
		d.lineStart = d.cursor - len(s) + strings.LastIndexByte(s, '\n') + 1
	}
	d.version++
	if full {
		return map[string]any{"text": d.text}
	}
	return map[string]any{"range": map[string]any{"start": pos, "end": pos}, "text": s}
}

func fileURI(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	return "file://" + filepath.ToSlash(abs)
}
