package prompt

import (
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// StopWords returns the stop words for a completion in language (a VS Code
// language id; unknown ids get the generic set) with template t:
//
//   - "\n\n": a blank line ends the completion (Tabby's blank-line rule:
//     ghost text is one block; the next block is a new request);
//   - "\n" + each top-level keyword: a new declaration at column 0;
//   - "\n" + the line comment marker: a comment at column 0 starts a new
//     section;
//   - the template's special tokens, so control tokens never reach the client.
//
// The result is sorted and has no duplicates or empty strings.
func StopWords(language string, t Template) []string {
	return stopWords(LookupLanguage(language, ""), t)
}

func stopWords(l Language, t Template) []string {
	words := []string{"\n\n"}
	for _, kw := range l.TopLevelKeywords {
		words = append(words, "\n"+kw)
	}
	if l.LineComment != "" {
		words = append(words, "\n"+l.LineComment)
	}
	words = append(words, t.SpecialTokens...)
	return normalizeStops(words)
}

// withCRLF adds, for each stop word with a line break, its variant with
// Windows line breaks: a model completing a CRLF file writes "\r\n".
func withCRLF(stops []string) []string {
	out := slices.Clone(stops)
	for _, w := range stops {
		if strings.Contains(w, "\n") {
			out = append(out, strings.ReplaceAll(w, "\n", "\r\n"))
		}
	}
	return normalizeStops(out)
}

func normalizeStops(words []string) []string {
	out := make([]string, 0, len(words))
	for _, w := range words {
		if w != "" {
			out = append(out, w)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// CutAtStop returns text up to the earliest occurrence of any stop word, and
// whether one occurred. It is what a StopMatcher fed the same text produces.
func CutAtStop(text string, stops []string) (string, bool) {
	if i, _ := earliestStop(text, stops); i >= 0 {
		return text[:i], true
	}
	return text, false
}

// earliestStop returns the start and length of the stop word occurrence that
// starts earliest in text (the longest one when several start there), or -1.
func earliestStop(text string, stops []string) (start, length int) {
	start = -1
	for _, s := range stops {
		if s == "" {
			continue
		}
		// Only occurrences before the best so far can improve it.
		limit := len(text)
		if start >= 0 {
			limit = min(len(text), start+len(s))
		}
		if i := strings.Index(text[:limit], s); i >= 0 && (start < 0 || i < start || (i == start && len(s) > length)) {
			start, length = i, len(s)
		}
	}
	return start, length
}

// StopMatcher applies stop words to streamed text. Push each generated delta
// and emit what it returns; the text of a stop word is never returned, and a
// tail that could be the start of a stop word is held back until the next
// Push shows whether it is one. Call Flush when the generation ends to get
// the held-back text. The output is exactly CutAtStop of the whole text,
// however it is split into deltas, and never splits a UTF-8 character.
//
// Each stop word is matched by its own Knuth-Morris-Pratt automaton, so a
// Push costs O(len(delta) × number of stop words) whatever the words'
// lengths (stop words can come from clients, through the OpenAI API).
// A StopMatcher is not safe for concurrent use.
type StopMatcher struct {
	stops   []stopAutomaton
	pending []byte // text received but not yet returned; it ends at offset seen
	seen    int    // bytes pushed so far
	cut     int    // offset of the earliest complete stop word so far, or -1
	cutWord string
	stopped bool
	matched string
}

// stopAutomaton tracks one stop word over the stream.
type stopAutomaton struct {
	word  string
	fail  []int // fail[i]: longest proper border of word[:i+1]
	state int   // length of the longest end of the stream that is a proper prefix of word
}

// NewStopMatcher returns a matcher for stops (empty strings are ignored).
func NewStopMatcher(stops []string) *StopMatcher {
	m := &StopMatcher{cut: -1}
	for _, w := range normalizeStops(append([]string(nil), stops...)) {
		fail := make([]int, len(w))
		for i, k := 1, 0; i < len(w); i++ {
			for k > 0 && w[i] != w[k] {
				k = fail[k-1]
			}
			if w[i] == w[k] {
				k++
			}
			fail[i] = k
		}
		m.stops = append(m.stops, stopAutomaton{word: w, fail: fail})
	}
	return m
}

// Push adds delta to the stream. It returns the text that is now safe to
// emit, and stopped = true once a stop word has completed; after that every
// Push returns ("", true) and the caller should end the generation.
func (m *StopMatcher) Push(delta string) (out string, stopped bool) {
	if m.stopped {
		return "", true
	}
	base := m.seen - len(m.pending) // offset of pending[0]
	m.pending = append(m.pending, delta...)
	for i := 0; i < len(delta); i++ {
		c, end := delta[i], m.seen+i+1
		for k := range m.stops {
			a := &m.stops[k]
			for a.state > 0 && a.word[a.state] != c {
				a.state = a.fail[a.state-1]
			}
			if a.word[a.state] == c {
				a.state++
			}
			if a.state == len(a.word) {
				start := end - len(a.word)
				if m.cut < 0 || start < m.cut || (start == m.cut && len(a.word) > len(m.cutWord)) {
					m.cut, m.cutWord = start, a.word
				}
				a.state = a.fail[a.state-1]
			}
		}
		// A complete stop word decides the cut unless a stop word that
		// started earlier may still complete.
		if m.cut >= 0 && m.heldFrom(end) >= m.cut {
			out = string(m.pending[:m.cut-base])
			m.finish(m.cutWord)
			// Only a stop word that is not valid UTF-8 can start inside a character.
			return out[:runeBoundaryBefore(out, len(out))], true
		}
	}
	m.seen += len(delta)
	hold := m.heldFrom(m.seen)
	if m.cut >= 0 {
		hold = min(hold, m.cut)
	}
	n := runeBoundaryBefore(m.pending, hold-base)
	out, m.pending = string(m.pending[:n]), m.pending[n:]
	return out, false
}

// heldFrom returns the offset where the earliest possible stop word still
// in progress starts, or end when none is.
func (m *StopMatcher) heldFrom(end int) int {
	from := end
	for _, a := range m.stops {
		from = min(from, end-a.state)
	}
	return from
}

func (m *StopMatcher) finish(matched string) {
	m.stopped, m.matched, m.pending = true, matched, nil
}

// runeBoundaryBefore moves i back so that s[:i] does not end inside an
// incomplete UTF-8 sequence.
func runeBoundaryBefore[T string | []byte](s T, i int) int {
	for k := i - 1; k >= 0 && k >= i-utf8.UTFMax; k-- {
		if utf8.RuneStart(s[k]) {
			if !utf8.FullRune([]byte(s[k:i])) {
				return k
			}
			break
		}
	}
	return i
}

// Flush ends the stream and returns the text still held back (cut at a stop
// word that completed while a longer one was undecided). An incomplete UTF-8
// sequence at the very end is dropped, never returned.
func (m *StopMatcher) Flush() string {
	if m.stopped {
		return ""
	}
	out := string(m.pending)
	if m.cut >= 0 {
		out = out[:m.cut-(m.seen-len(m.pending))]
	}
	m.finish(m.cutWord)
	return out[:runeBoundaryBefore(out, len(out))]
}

// Matched returns the stop word that ended the stream, or "".
func (m *StopMatcher) Matched() string { return m.matched }
