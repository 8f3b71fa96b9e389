package prompt

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestStopWordsPerLanguage(t *testing.T) {
	qwen, _ := LookupTemplate("qwen")
	for _, c := range []struct {
		lang      string
		want      []string
		notWanted []string
	}{
		{"go", []string{"\n\n", "\nfunc", "\ntype", "\n//", "<|fim_prefix|>", "<|endoftext|>"}, []string{"\ndef", "\n#"}},
		{"python", []string{"\n\n", "\ndef", "\nclass", "\n#"}, []string{"\nfunc", "\n//"}},
		{"rust", []string{"\nfn", "\nimpl", "\n//"}, nil},
		{"typescriptreact", []string{"\nfunction", "\nexport", "\n//"}, nil},
		{"lua", []string{"\nfunction", "\n--"}, nil},
		{"golang", []string{"\nfunc"}, nil},
		{"no-such-language", []string{"\n\n", "<|fim_middle|>"}, []string{"\nfunc", "\ndef", "\n#"}},
		{"", []string{"\n\n"}, []string{"\nfunc"}},
	} {
		got := StopWords(c.lang, qwen)
		for _, w := range c.want {
			if !contains(got, w) {
				t.Errorf("StopWords(%q) lacks %q: %q", c.lang, w, got)
			}
		}
		for _, w := range c.notWanted {
			if contains(got, w) {
				t.Errorf("StopWords(%q) has %q", c.lang, w)
			}
		}
		for i, w := range got {
			if w == "" || (i > 0 && got[i-1] >= w) {
				t.Errorf("StopWords(%q) is not sorted and unique: %q", c.lang, got)
			}
		}
	}
}

func TestStopMatcherSplitStop(t *testing.T) {
	m := NewStopMatcher([]string{"\nfunc", "\n\n"})
	var out strings.Builder
	var stopped bool
	for _, d := range []string{"return x", "\n", "}", "\n", "f", "un", "c main"} {
		o, s := m.Push(d)
		out.WriteString(o)
		if s {
			stopped = true
			break
		}
	}
	if !stopped {
		t.Fatal("stop word split over deltas was not matched")
	}
	if got := out.String(); got != "return x\n}" {
		t.Errorf("output %q, want %q", got, "return x\n}")
	}
	if m.Matched() != "\nfunc" {
		t.Errorf("Matched = %q", m.Matched())
	}
	if o, s := m.Push("more"); o != "" || !s {
		t.Errorf("Push after stop = %q, %v", o, s)
	}
	if m.Flush() != "" {
		t.Error("Flush after stop returned text")
	}
}

func TestStopMatcherHoldsBackThenReleases(t *testing.T) {
	m := NewStopMatcher([]string{"\nfunc"})
	if o, s := m.Push("a\nfu"); o != "a" || s {
		t.Fatalf("Push = %q, %v; want the possible stop held back", o, s)
	}
	if o, s := m.Push("n!"); o != "\nfun!" || s {
		t.Fatalf("Push = %q, %v; want the held text released", o, s)
	}
	if m.Push("\nf"); m.Flush() != "\nf" {
		t.Error("Flush did not return the held-back tail")
	}
}

func TestStopMatcherEarliestStopWins(t *testing.T) {
	// "cd" completes first, but "abcde" started earlier and could still
	// complete: the matcher must wait, as the batch result would cut at "ab".
	stops := []string{"bcde", "cd"}
	m := NewStopMatcher(stops)
	var out strings.Builder
	for _, d := range []string{"xab", "cd", "e", "tail"} {
		o, s := m.Push(d)
		out.WriteString(o)
		if s {
			break
		}
	}
	want, _ := CutAtStop("xabcdetail", stops)
	if out.String() != want || want != "xa" {
		t.Errorf("stream gave %q, batch %q; want %q", out.String(), want, "xa")
	}
	// And when the longer word does not complete, the shorter one cuts.
	m = NewStopMatcher(stops)
	out.Reset()
	for _, d := range []string{"xab", "cd", "X"} {
		o, s := m.Push(d)
		out.WriteString(o)
		if s {
			break
		}
	}
	out.WriteString(m.Flush())
	if out.String() != "xab" {
		t.Errorf("got %q, want %q", out.String(), "xab")
	}
}

func TestStopMatcherUTF8(t *testing.T) {
	// "é" split across deltas must not be emitted half.
	m := NewStopMatcher([]string{"\n\n"})
	e := "é"
	o1, _ := m.Push("caf" + e[:1])
	o2, _ := m.Push(e[1:] + "!")
	if !utf8.ValidString(o1) || !utf8.ValidString(o2) || o1+o2+m.Flush() != "café!" {
		t.Errorf("got %q + %q", o1, o2)
	}
	// A stop word made of multi-byte characters, split inside a character.
	stop := "<｜fim▁end｜>"
	m = NewStopMatcher([]string{stop})
	var out strings.Builder
	text := "x = 1" + stop + "junk"
	for i := 0; i < len(text); i++ {
		o, s := m.Push(text[i : i+1])
		if !utf8.ValidString(o) {
			t.Fatalf("invalid UTF-8 emitted: %q", o)
		}
		out.WriteString(o)
		if s {
			break
		}
	}
	if out.String() != "x = 1" {
		t.Errorf("got %q", out.String())
	}
	// An incomplete character at the end of the stream is dropped.
	m = NewStopMatcher(nil)
	o, _ := m.Push("ab" + e[:1])
	if o+m.Flush() != "ab" {
		t.Errorf("incomplete trailing character not dropped: %q", o)
	}
}

// streamThrough feeds text to a matcher in pieces whose lengths come from cuts.
func streamThrough(stops []string, text string, cuts []byte) string {
	m := NewStopMatcher(stops)
	var out strings.Builder
	for i := 0; i < len(text); {
		n := 1
		if len(cuts) > 0 {
			n = int(cuts[0])%7 + 1
			cuts = cuts[1:]
		}
		n = min(n, len(text)-i)
		o, s := m.Push(text[i : i+n])
		out.WriteString(o)
		if s {
			return out.String()
		}
		i += n
	}
	return out.String() + m.Flush()
}

func FuzzStopMatcher(f *testing.F) {
	f.Add("func a() {\n\treturn 1\n}\n\nfunc b() {}", []byte{1, 2, 3}, "\n\n", "\nfunc")
	f.Add("xabcdetail", []byte{3, 2, 1}, "bcde", "cd")
	f.Add("naïve <｜fim▁end｜> rest", []byte{0, 5, 1, 0}, "<｜fim▁end｜>", "\n")
	f.Add("aaaaab", []byte{}, "aab", "aaab")
	f.Add("abababx", []byte{2, 2}, "ababx", "bab")
	f.Fuzz(func(t *testing.T, text string, cuts []byte, stop1, stop2 string) {
		if !utf8.ValidString(text) || !utf8.ValidString(stop1) || !utf8.ValidString(stop2) {
			return
		}
		stops := []string{stop1, stop2, "\n\n"}
		got := streamThrough(stops, text, cuts)
		want, _ := CutAtStop(text, stops)
		// Flush drops an incomplete trailing character; valid text has none.
		if got != want {
			t.Fatalf("stream %q != batch %q (stops %q)", got, want, stops)
		}
		for _, s := range stops {
			if s != "" && strings.Contains(got, s) {
				t.Fatalf("output %q contains stop %q", got, s)
			}
		}
	})
}

// BenchmarkStopMatcher streams 64 tokens of code through Go's stop words,
// and a long text through a long stop word that keeps almost matching
// (stop words can come from clients).
func BenchmarkStopMatcher(b *testing.B) {
	qwen, _ := LookupTemplate("qwen")
	stops := StopWords("go", qwen)
	tokens := strings.SplitAfter(strings.Repeat("\tif err != nil {\n\t\treturn err\n\t}\n", 13), " ")[:64]
	b.Run("go-64-tokens", func(b *testing.B) {
		for b.Loop() {
			m := NewStopMatcher(stops)
			for _, tok := range tokens {
				m.Push(tok)
			}
			m.Flush()
		}
	})
	long := strings.Repeat("a", 4096) + "b"
	text := strings.Repeat("a", 64<<10)
	b.Run("long-stop-64KiB", func(b *testing.B) {
		for b.Loop() {
			m := NewStopMatcher([]string{long})
			for i := 0; i < len(text); i += 4 {
				m.Push(text[i : i+4])
			}
			m.Flush()
		}
	})
}

func TestStopWordsForCRLFFiles(t *testing.T) {
	b := newTestBuilder(t, Config{})
	p, err := b.Build(completion("go", "package main\r\n\r\nfunc main() {\r\n\t", "\r\n}\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"\n\n", "\r\n\r\n", "\nfunc", "\r\nfunc", "\r\n//"} {
		if !contains(p.Stop, w) {
			t.Errorf("CRLF file: stop words lack %q", w)
		}
	}
	p, _ = b.Build(completion("go", "package main\n", ""))
	if contains(p.Stop, "\r\nfunc") {
		t.Error("LF file got CRLF stop words")
	}
}
