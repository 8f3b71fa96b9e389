package lsp

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.lsp.dev/protocol"
)

// Scenario files (testdata/scenarios/*.txt) drive the whole completion path
// (LSP handler, agent, post-processing) against a fake server: a document
// with a | cursor marker, what the server answers, and the expected item
// text and range (line:char-line:char in the scenario's position encoding,
// utf-16 by default; empty when nothing should be shown). A literal \r at
// a line's end stands for a carriage return.
type scenario struct {
	comment  string
	sections map[string]string
	order    []string
}

func parseScenario(data string) scenario {
	sc := scenario{sections: map[string]string{}}
	name := ""
	var b strings.Builder
	flush := func() {
		if name == "" {
			sc.comment = b.String()
		} else {
			sc.sections[name] = b.String()
			sc.order = append(sc.order, name)
		}
		b.Reset()
	}
	for _, line := range strings.SplitAfter(data, "\n") {
		trimmed := strings.TrimRight(line, "\n")
		if strings.HasPrefix(trimmed, "-- ") && strings.HasSuffix(trimmed, " --") && len(trimmed) > 6 {
			flush()
			name = strings.TrimSpace(trimmed[3 : len(trimmed)-3])
			continue
		}
		b.WriteString(line)
	}
	flush()
	return sc
}

var scenarioLanguages = map[string]string{".go": "go", ".py": "python", ".ts": "typescript", ".rs": "rust"}

func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/scenarios/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			sc := parseScenario(string(data))
			var docName, doc string
			for _, n := range sc.order {
				if strings.HasPrefix(n, "doc.") {
					docName, doc = n, sc.sections[n]
				}
			}
			doc = strings.ReplaceAll(doc, "\\r\n", "\r\n")
			cursor := strings.Index(doc, "|")
			if docName == "" || cursor < 0 {
				t.Fatalf("%s: needs a doc.EXT section with a | cursor", file)
			}
			doc = doc[:cursor] + doc[cursor+1:]
			enc := PositionEncoding(strings.TrimSpace(sc.sections["encoding"]))
			if enc == "" {
				enc = UTF16
			}
			f := newFakeServer(t, strings.TrimSuffix(sc.sections["server"], "\n"))
			s := newSession(t, f.URL)
			if got := s.initialize([]string{string(enc)}, true).Capabilities.PositionEncoding; got != enc {
				t.Fatalf("negotiated %s, want %s", got, enc)
			}
			uri := "file:///scenario/" + docName
			s.open(uri, scenarioLanguages[filepath.Ext(docName)], doc)
			pos := newDocument(uri, "", 1, []byte(doc), DefaultMaxDocumentBytes).Position(cursor, enc)
			res, err := s.inline(uri, pos.Line, pos.Character, 1)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.TrimSuffix(strings.ReplaceAll(sc.sections["want"], "\\r\n", "\r\n"), "\n")
			wantRange := strings.TrimSpace(sc.sections["range"])
			if want == "" {
				if len(res.Items) != 0 {
					t.Fatalf("want nothing, got %q", res.Items[0].InsertText)
				}
				return
			}
			if len(res.Items) != 1 {
				t.Fatalf("want %q, got %d items", want, len(res.Items))
			}
			it := res.Items[0]
			if it.InsertText != want {
				t.Errorf("text %q, want %q", it.InsertText, want)
			}
			if got := fmtRange(*it.Range); got != wantRange {
				t.Errorf("range %s, want %s", got, wantRange)
			}
		})
	}
}

func fmtRange(r protocol.Range) string {
	return fmt.Sprintf("%d:%d-%d:%d", r.Start.Line, r.Start.Character, r.End.Line, r.End.Character)
}
