package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/servalhq/serval/agent/postprocess"
	"github.com/servalhq/serval/integration/testsupport/llamalib"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/server/api"
)

// TestPostprocessOnRealModelOutput runs the post-processing golden cases'
// documents through a model that writes code (serval-tiny on the real
// server) instead of their hand-written completions, and checks what must
// hold for any output: valid UTF-8, only text the model wrote (whitespace
// aside), a suffix replacement within the cursor's line, and no suggestion
// that ends by repeating the line that follows the cursor.
func TestPostprocessOnRealModelOutput(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(llamalib.RepoRoot(), "agent", "postprocess", "testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	srv := servaltest.Start(t, servaltest.Options{Model: "serval-tiny", Args: []string{"--max-tokens", "48"}})
	checked, kept := 0, 0
	for _, file := range files {
		lang, doc, ok := goldenDocument(t, file)
		if !ok || (lang != "go" && lang != "python") {
			continue
		}
		prefix, suffix, _ := strings.Cut(doc, "<CURSOR>")
		res, err := srv.Client.Complete(context.Background(), &api.CompletionRequest{Language: lang,
			Segments: &api.Segments{Prefix: prefix, Suffix: suffix}})
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(file), err)
		}
		if len(res.Choices) == 0 {
			continue
		}
		raw := res.Choices[0].Text
		r := postprocess.Process(postprocess.Input{Language: lang, Prefix: prefix, Suffix: suffix, Completion: raw})
		checked++
		name := filepath.Base(file)
		if !utf8.ValidString(r.Text) {
			t.Errorf("%s: invalid UTF-8 %q", name, r.Text)
		}
		if r.Discarded {
			continue
		}
		kept++
		if !strings.Contains(visible(raw), visible(r.Text)) {
			t.Errorf("%s: kept text the model did not write:\nraw  %q\nkept %q", name, raw, r.Text)
		}
		firstLine, _, _ := strings.Cut(suffix, "\n")
		if r.ReplaceSuffixLen < 0 || r.ReplaceSuffixLen > len(firstLine) {
			t.Errorf("%s: replaces %d bytes of a %d-byte cursor line", name, r.ReplaceSuffixLen, len(firstLine))
		}
		if next := firstNonBlankLine(suffix[r.ReplaceSuffixLen:]); next != "" && len(next) > 3 && lastNonBlankLine(prefix+r.Text) == next {
			t.Errorf("%s: the suggestion ends by repeating the next line %q:\nraw  %q\nkept %q", name, next, raw, r.Text)
		}
	}
	t.Logf("%d golden documents completed by serval-tiny, %d suggestions kept", checked, kept)
	if checked < 20 {
		t.Errorf("only %d documents checked", checked)
	}
}

// goldenDocument reads a golden case's language and document section.
func goldenDocument(t *testing.T, path string) (lang, doc string, ok bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if strings.Contains(text, "crlf: true") {
		return "", "", false
	}
	for _, line := range strings.Split(text, "\n") {
		if v, found := strings.CutPrefix(line, "language:"); found {
			lang = strings.TrimSpace(v)
			break
		}
	}
	_, rest, found := strings.Cut(text, "-- document --\n")
	if !found {
		return "", "", false
	}
	doc, _, found = strings.Cut(rest, "-- completion --\n")
	return lang, doc, found && strings.Contains(doc, "<CURSOR>")
}

func visible(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

func firstNonBlankLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func lastNonBlankLine(s string) string {
	lines := strings.Split(s, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.TrimSpace(lines[i]) != "" {
			return strings.TrimSpace(lines[i])
		}
	}
	return ""
}
