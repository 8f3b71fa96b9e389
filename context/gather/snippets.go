package gather

import (
	"bytes"
	"context"

	"github.com/servalhq/serval/context/recent"
)

// minSnippetScore is the least Jaccard similarity a snippet needs: below
// it, chunks share little more than boilerplate with the cursor's code.
const minSnippetScore = 0.1

// changedChunks are the pieces of recent edits in other open documents and
// of the folders' git diffs (other files).
func (g *Gatherer) changedChunks(current string) []recent.Chunk {
	var chunks []recent.Chunk
	for _, sp := range g.tracker.EditedSpans() {
		if sp.Path == current {
			continue
		}
		if c, ok := g.chunkOf(sp.Path, sp.StartRow-3, sp.EndRow+3); ok {
			chunks = append(chunks, c...)
		}
	}
	g.mu.RLock()
	ws := append([]*workspace(nil), g.workspaces...)
	g.mu.RUnlock()
	for _, w := range ws {
		w.mu.RLock()
		for _, c := range w.diffs {
			if c.Path != current && !g.isOpen(c.Path) {
				chunks = append(chunks, c)
			}
		}
		w.mu.RUnlock()
	}
	return chunks
}

// openedChunks are the pieces of other open documents around the rows the
// user viewed most recently.
func (g *Gatherer) openedChunks(current string) []recent.Chunk {
	var chunks []recent.Chunk
	for _, sp := range g.tracker.ViewedSpans() {
		if sp.Path == current {
			continue
		}
		if c, ok := g.chunkOf(sp.Path, sp.StartRow, sp.EndRow); ok {
			chunks = append(chunks, c...)
		}
	}
	return chunks
}

// chunkOf cuts rows from..to of an open, allowed document into chunks of
// maxChunkLines lines, caching each chunk's tokens until the document
// changes.
func (g *Gatherer) chunkOf(path string, from, to int) ([]recent.Chunk, bool) {
	g.mu.RLock()
	d := g.byPath[path]
	g.mu.RUnlock()
	if d == nil {
		return nil, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.allowed {
		return nil, false
	}
	if d.lines == nil {
		d.lines = lineStarts(d.text)
	}
	from = max(0, from)
	to = min(len(d.lines)-1, to)
	var out []recent.Chunk
	for s := from; s <= to; s += maxChunkLines {
		e := min(to, s+maxChunkLines-1)
		key := [2]int{s, e}
		c, ok := d.chunks[key]
		if !ok {
			end := uint32(len(d.text))
			if e+1 < len(d.lines) {
				end = d.lines[e+1]
			}
			text := string(d.text[d.lines[s]:end])
			c = recent.Chunk{Path: path, StartRow: s, Text: text, Tokens: recent.Tokens(text)}
			d.chunks[key] = c
		}
		out = append(out, c)
	}
	return out, true
}

// snippets ranks chunks against the query and converts the best to the
// wire type.
func (g *Gatherer) snippets(ctx context.Context, query recent.TokenSet, chunks []recent.Chunk, budget, maxN int) []Snippet {
	if len(query) == 0 || len(chunks) == 0 || ctx.Err() != nil {
		return nil
	}
	ranked := recent.Rank(query, chunks, budget, minSnippetScore)
	out := make([]Snippet, 0, min(len(ranked), maxN))
	for _, s := range ranked {
		if len(out) == maxN {
			break
		}
		out = append(out, Snippet{Filepath: g.displayPath(s.Path), Body: s.Text, Score: s.Score})
	}
	return out
}

// lineStarts returns the offsets where text's lines start. Documents are
// bounded far below 4 GiB, so offsets fit in 32 bits.
func lineStarts(text []byte) []uint32 {
	starts := make([]uint32, 1, bytes.Count(text, []byte{'\n'})+1)
	for i, b := range text {
		if b == '\n' {
			starts = append(starts, uint32(i+1))
		}
	}
	return starts
}
