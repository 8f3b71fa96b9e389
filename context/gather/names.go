package gather

import (
	"bytes"
	"sort"
)

// Where namesWithPrefix looks: the top of the file (imports) and the code
// around the cursor, so that its cost does not grow with the file.
const (
	namesHead   = 16 << 10
	namesBefore = 32 << 10
	namesAfter  = 16 << 10
)

// namesWithPrefix returns up to limit distinct identifiers of text, other
// than the one at skip, that start with prefix and are longer than it,
// nearest to skip first. It reads the top of the text and the region
// around skip.
func namesWithPrefix(text []byte, prefix string, skip, limit int) []string {
	var hits []nameHit
	seen := map[string]int{} // name -> index in hits
	p := []byte(prefix)
	regions := [][2]int{{0, min(len(text), namesHead)}}
	if from := max(namesHead, skip-namesBefore); from < len(text) {
		regions = append(regions, [2]int{from, min(len(text), skip+namesAfter)})
	}
	for _, r := range regions {
		hits = scanNames(text, r[0], r[1], p, skip, hits, seen)
	}
	sort.Slice(hits, func(a, b int) bool { return hits[a].dist < hits[b].dist })
	out := make([]string, 0, min(limit, len(hits)))
	for _, h := range hits {
		if len(out) == limit {
			break
		}
		out = append(out, h.name)
	}
	return out
}

// nameHit is a name found by namesWithPrefix and its nearest distance
// from the cursor.
type nameHit struct {
	name string
	dist int
}

// scanNames appends the identifiers starting with p in text[from:to].
func scanNames(text []byte, from, to int, p []byte, skip int, hits []nameHit, seen map[string]int) []nameHit {
	for i := from; i < to; {
		j := bytes.Index(text[i:to], p)
		if j < 0 {
			break
		}
		start := i + j
		i = start + len(p)
		if start == skip || start > 0 && isIdentByte(text[start-1]) {
			continue
		}
		end := i
		for end < len(text) && isIdentByte(text[end]) {
			end++
		}
		if end == i {
			continue // the prefix itself, not a longer name
		}
		name := string(text[start:end])
		dist := start - skip
		if dist < 0 {
			dist = -dist
		}
		if k, ok := seen[name]; ok {
			hits[k].dist = min(hits[k].dist, dist)
			continue
		}
		seen[name] = len(hits)
		hits = append(hits, nameHit{name, dist})
	}
	return hits
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}
