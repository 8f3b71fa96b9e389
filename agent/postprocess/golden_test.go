package postprocess

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Golden cases live in testdata/*.txt, one per file:
//
//	language: go            (LSP language id; required)
//	indent: tabs 4          (optional: "tabs N" or "spaces N")
//	minlength: 3            (optional)
//	crlf: true              (optional: the document uses CRLF line ends)
//	any other header line is a comment
//	-- document --
//	the document, with <CURSOR> where the completion was asked
//	-- completion --
//	the model's raw output (the section's last newline is not part of it)
//	-- want --
//	the document after accepting, the inserted text between <INS> and </INS>
//	(replaced closers gone), or "discarded", "discarded: <reason>", or
//	"unchanged" (the raw completion is inserted as is)
const (
	cursorMarker = "<CURSOR>"
	insStart     = "<INS>"
	insEnd       = "</INS>"
)

type goldenCase struct {
	name       string
	input      Input
	want       string
	crlf       bool
	document   string
	completion string
}

func parseGolden(t *testing.T, path string) goldenCase {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c := goldenCase{name: filepath.Base(path)}
	sections := map[string]string{}
	var header []string
	current := ""
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if name, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), "-- "); ok && strings.HasSuffix(name, " --") {
			current = strings.TrimSuffix(name, " --")
			sections[current] = ""
			continue
		}
		if current == "" {
			header = append(header, strings.TrimSpace(line))
			continue
		}
		sections[current] += line
	}
	for _, h := range header {
		key, value, ok := strings.Cut(h, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch key {
		case "language":
			c.input.Language = value
		case "indent":
			kind, width, _ := strings.Cut(value, " ")
			c.input.Indent.Tabs = kind == "tabs"
			c.input.Indent.Width, _ = strconv.Atoi(width)
		case "minlength":
			c.input.MinLength, _ = strconv.Atoi(value)
		case "crlf":
			c.crlf = value == "true"
		}
	}
	doc, ok := sections["document"]
	if !ok || !strings.Contains(doc, cursorMarker) || c.input.Language == "" {
		t.Fatalf("%s: needs a language header and a document section with %s", path, cursorMarker)
	}
	completion, ok := sections["completion"]
	if !ok {
		t.Fatalf("%s: no completion section", path)
	}
	want, ok := sections["want"]
	if !ok {
		t.Fatalf("%s: no want section", path)
	}
	completion = strings.TrimSuffix(completion, "\n")
	if c.crlf {
		doc = strings.ReplaceAll(doc, "\n", "\r\n")
		want = strings.ReplaceAll(want, "\n", "\r\n")
	}
	c.document = doc
	c.completion = completion
	c.input.Prefix, c.input.Suffix, _ = strings.Cut(doc, cursorMarker)
	c.input.Completion = completion
	c.want = want
	return c
}

// render shows a result the way the want section writes it.
func render(in Input, r Result) string {
	if r.Discarded {
		return "discarded: " + r.Reason
	}
	return in.Prefix + insStart + r.Text + insEnd + in.Suffix[r.ReplaceSuffixLen:]
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 60 {
		t.Errorf("want at least 60 golden cases, have %d", len(files))
	}
	languages := map[string]bool{}
	for _, file := range files {
		c := parseGolden(t, file)
		languages[c.input.Language] = true
		t.Run(strings.TrimSuffix(c.name, ".txt"), func(t *testing.T) {
			got := Process(c.input)
			want := strings.TrimSpace(c.want)
			switch {
			case want == "unchanged":
				if got.Discarded || got.Text != c.completion || got.ReplaceSuffixLen != 0 {
					t.Errorf("want the completion unchanged, got %q (replace %d, %s)", got.Text, got.ReplaceSuffixLen, got.Reason)
				}
			case want == "discarded":
				if !got.Discarded {
					t.Errorf("want a discard, got:\n%s", render(c.input, got))
				}
			case strings.HasPrefix(want, "discarded:"):
				if reason := strings.TrimSpace(strings.TrimPrefix(want, "discarded:")); !got.Discarded || got.Reason != reason {
					t.Errorf("want discarded: %s, got:\n%s", reason, render(c.input, got))
				}
			default:
				if r := render(c.input, got); r != c.want {
					t.Errorf("got:\n%s\nwant:\n%s\n(text %q, replace %d)", r, c.want, got.Text, got.ReplaceSuffixLen)
				}
			}
		})
	}
	for _, lang := range []string{"go", "python", "typescript", "rust", "java", "c"} {
		if !languages[lang] {
			t.Errorf("no golden case for %s", lang)
		}
	}
}

func ExampleProcess() {
	r := Process(Input{
		Language:   "go",
		Prefix:     "func f() {\n\tfmt.Println(",
		Suffix:     ")\n}\n",
		Completion: "\"hello\")\n\treturn\n}\n\nfunc g() {",
	})
	fmt.Printf("%q replaces %d byte(s)\n", r.Text, r.ReplaceSuffixLen)
	// Output: "\"hello\")" replaces 1 byte(s)
}

// TestConcurrentProcess runs the golden cases from several goroutines at
// once: pooled parsers and the symbol tables must be safe to share (run
// with -race).
func TestConcurrentProcess(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	var cases []goldenCase
	for _, f := range files {
		cases = append(cases, parseGolden(t, f))
	}
	want := make([]Result, len(cases))
	for i, c := range cases {
		want[i] = Process(c.input)
	}
	const workers = 4
	errs := make(chan string, workers*len(cases))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, c := range cases {
				if got := Process(c.input); got != want[i] {
					errs <- fmt.Sprintf("%s: got %+v, want %+v", c.name, got, want[i])
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
