package agent

import (
	"container/list"
	"hash/maphash"
	"strings"
	"sync"
	"time"
)

// cachedItem is one post-processed choice, relative to its cursor.
type cachedItem struct {
	Text             string
	ReplaceSuffixLen int // bytes after the cursor (on its line) the text replaces
	Choice           int // the server's choice index
}

// cacheEntry is a finished completion at one (document, prefix, suffix).
type cacheEntry struct {
	key     uint64
	id      string // the server's completion id
	items   []cachedItem
	expires time.Time
}

// completionCache is an LRU of finished completions keyed by a hash of the
// document URI and the prefix and suffix windows sent to the server.
type completionCache struct {
	seed maphash.Seed

	mu      sync.Mutex
	max     int
	ttl     time.Duration
	order   *list.List // front: most recent; values are *cacheEntry
	entries map[uint64]*list.Element
}

func newCompletionCache(max int, ttl time.Duration) *completionCache {
	return &completionCache{seed: maphash.MakeSeed(), max: max, ttl: ttl, order: list.New(), entries: make(map[uint64]*list.Element)}
}

// key hashes the position's identity and the number of candidates asked
// for.
func (c *completionCache) key(uri, prefix, suffix string, candidates int) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteByte(byte(candidates))
	h.WriteString(uri)
	h.WriteByte(0)
	h.WriteString(prefix)
	h.WriteByte(0)
	h.WriteString(suffix)
	return h.Sum64()
}

func (c *completionCache) get(key uint64, now time.Time) (*cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if now.After(e.expires) {
		c.order.Remove(el)
		delete(c.entries, key)
		return nil, false
	}
	c.order.MoveToFront(el)
	return e, true
}

func (c *completionCache) put(key uint64, id string, items []cachedItem, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max <= 0 {
		return
	}
	e := &cacheEntry{key: key, id: id, items: items, expires: now.Add(c.ttl)}
	if el, ok := c.entries[key]; ok {
		el.Value = e
		c.order.MoveToFront(el)
		return
	}
	c.entries[key] = c.order.PushFront(e)
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.entries, last.Value.(*cacheEntry).key)
	}
}

func (c *completionCache) resize(max int, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.max, c.ttl = max, ttl
	for c.order.Len() > c.max && c.order.Len() > 0 {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.entries, last.Value.(*cacheEntry).key)
	}
}

// anchorLen is how much text on each side of the cursor identifies the place
// a suggestion was made for.
const anchorLen = 256

// maxTypedAhead bounds how far typing may run along a suggestion.
const maxTypedAhead = 4096

// suggestion is the last completion returned for a document, kept so that
// typing along it is answered at once with the rest of it (every line).
type suggestion struct {
	id         string
	offset     int    // the cursor when it was computed
	prefixTail string // the anchorLen bytes before offset
	suffixHead string // the anchorLen bytes after offset
	items      []cachedItem
	several    bool // it answers an explicit request for several candidates
}

func newSuggestion(id string, text []byte, offset int, items []cachedItem) *suggestion {
	lo := max(0, offset-anchorLen)
	hi := min(len(text), offset+anchorLen)
	return &suggestion{id: id, offset: offset, prefixTail: string(text[lo:offset]), suffixHead: string(text[offset:hi]), items: items}
}

// continueAt returns what is left of the suggestion when the document is
// the one it was made for plus characters typed at its cursor that match the
// start of at least one item. typed is the text typed since. Typing an
// opening bracket or quote along the suggestion usually makes the editor
// insert its closer after the cursor; when the rest of the suggestion writes
// that closer again on its first line, the item's range covers it.
func (s *suggestion) continueAt(text []byte, offset int) (rest []cachedItem, typed string, ok bool) {
	if offset < s.offset || offset-s.offset > maxTypedAhead || offset > len(text) {
		return nil, "", false
	}
	if s.offset < len(s.prefixTail) || string(text[s.offset-len(s.prefixTail):s.offset]) != s.prefixTail {
		return nil, "", false
	}
	closers := -1
	for k := 0; k <= maxAutoClosers && offset+k <= len(text); k++ {
		if k > 0 && !isAutoCloser(text[offset+k-1]) {
			break
		}
		if s.suffixAt(text, offset+k) {
			closers = k
			break
		}
	}
	if closers < 0 {
		return nil, "", false
	}
	inserted := string(text[offset : offset+closers])
	typed = string(text[s.offset:offset])
	for _, it := range s.items {
		if len(it.Text) <= len(typed) || !strings.HasPrefix(it.Text, typed) {
			continue
		}
		r := it.Text[len(typed):]
		firstLine, _, _ := strings.Cut(r, "\n")
		if closers > 0 && !strings.Contains(firstLine, inserted) {
			continue // the closer the editor added would be left over
		}
		rest = append(rest, cachedItem{Text: r, ReplaceSuffixLen: it.ReplaceSuffixLen + closers, Choice: it.Choice})
	}
	return rest, typed, len(rest) > 0
}

// maxAutoClosers bounds the closers an editor inserts for one keystroke.
const maxAutoClosers = 2

func isAutoCloser(c byte) bool {
	switch c {
	case ')', ']', '}', '"', '\'', '`':
		return true
	}
	return false
}

// suffixAt reports whether the text from at on is the suggestion's suffix.
func (s *suggestion) suffixAt(text []byte, at int) bool {
	if len(text)-at < len(s.suffixHead) || string(text[at:at+len(s.suffixHead)]) != s.suffixHead {
		return false
	}
	// A suffix shorter than the anchor reached the document's end; it must still.
	return len(s.suffixHead) == anchorLen || len(text)-at == len(s.suffixHead)
}
