package prompt

import (
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

func normalizeStops(words []string) []string {
	out := make([]string, 0, len(words))
	for _, w := range words {
		if w != "" {
			out = append(out, w)
		}
	}
	sort.Strings(out)
	return slicesCompact(out)
}

func slicesCompact(s []string) []string {
	if len(s) < 2 {
		return s
	}
	out := s[:1]
	for _, w := range s[1:] {
		if w != out[len(out)-1] {
			out = append(out, w)
		}
	}
	return out
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
// the held-back text. The output is exactly CutAtStop of the whole text, and
// never splits a UTF-8 character. A StopMatcher is not safe for concurrent use.
type StopMatcher struct {
	stops   []string
	maxLen  int    // length of the longest stop word
	pending string // text received but not yet returned
	stopped bool
	matched string
}

// NewStopMatcher returns a matcher for stops (empty strings are ignored).
func NewStopMatcher(stops []string) *StopMatcher {
	m := &StopMatcher{stops: normalizeStops(append([]string(nil), stops...))}
	for _, s := range m.stops {
		m.maxLen = max(m.maxLen, len(s))
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
	m.pending += delta
	if i, n := earliestStop(m.pending, m.stops); i >= 0 {
		// A longer stop word starting before i could still complete; until it
		// can be ruled out, the batch result is not known.
		if j := m.partialStart(i); j < 0 {
			out = m.pending[:i]
			m.matched = m.pending[i : i+n]
			m.pending = ""
			m.stopped = true
			return out, true
		} else {
			out, m.pending = m.pending[:j], m.pending[j:]
			return out, false
		}
	}
	hold := m.partialStart(len(m.pending))
	if hold < 0 {
		hold = len(m.pending)
	}
	hold = runeBoundaryBefore(m.pending, hold)
	out, m.pending = m.pending[:hold], m.pending[hold:]
	return out, false
}

// partialStart returns the first position before end from which the rest of
// the pending text is a proper prefix of a stop word, or -1.
func (m *StopMatcher) partialStart(end int) int {
	// Only a tail shorter than the longest stop word can be a proper prefix.
	for j := max(0, len(m.pending)-m.maxLen+1); j < end; j++ {
		tail := m.pending[j:]
		for _, s := range m.stops {
			if len(tail) < len(s) && strings.HasPrefix(s, tail) {
				return j
			}
		}
	}
	return -1
}

// runeBoundaryBefore moves i back so that s[:i] does not end inside an
// incomplete UTF-8 sequence.
func runeBoundaryBefore(s string, i int) int {
	for k := i - 1; k >= 0 && k >= i-utf8.UTFMax; k-- {
		if utf8.RuneStart(s[k]) {
			if !utf8.FullRuneInString(s[k:i]) {
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
	m.stopped = true
	out, found := CutAtStop(m.pending, m.stops)
	if found {
		i, n := earliestStop(m.pending, m.stops)
		m.matched = m.pending[i : i+n]
	}
	m.pending = ""
	return out[:runeBoundaryBefore(out, len(out))]
}

// Matched returns the stop word that ended the stream, or "".
func (m *StopMatcher) Matched() string { return m.matched }
