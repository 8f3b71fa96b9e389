package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/servalhq/serval/integration/testsupport/llamalib"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
)

var (
	flagRE = regexp.MustCompile(`--[a-z][a-z0-9-]*`)
	// An invocation of serval or serval-agent in prose or a code block.
	invocationRE = regexp.MustCompile("(?:^|[\\s`(])(?:\\./)?(?:bin/)?serval(?:-agent\\b| (?:serve|token|stats|backup|restore|doctor|healthcheck|version|help)\\b)")
	// A table row whose first cell names flags: | `--port` | ... |
	flagRowRE = regexp.MustCompile("^\\| *`--")
)

// knownFlags is every flag the binaries accept, read from their help.
func knownFlags(t *testing.T) map[string]bool {
	t.Helper()
	known := map[string]bool{"--help": true, "--version": true}
	add := func(help string) {
		for _, f := range regexp.MustCompile(`(?m)^  -?(-[a-z][a-z0-9-]*)`).FindAllStringSubmatch(help, -1) {
			known["-"+strings.TrimPrefix(f[1], "-")] = true
			known["--"+strings.TrimLeft(f[1], "-")] = true
		}
	}
	_, usage, _ := serval(t, "help")
	for _, m := range regexp.MustCompile(`(?m)^  serval ([a-z]+(?: [a-z]+)?)\b`).FindAllStringSubmatch(usage, -1) {
		if m[1] == "help" {
			continue
		}
		_, out, _ := serval(t, append(strings.Fields(m[1]), "--help")...)
		add(out)
	}
	if !known["--model"] || !known["--log-format"] || !known["--name"] {
		t.Fatalf("could not read the flags from serval's help: %v", known)
	}
	out, _ := runAgentHelp(t)
	add(out)
	if !known["--log-file"] {
		t.Fatalf("could not read the flags from serval-agent --help:\n%s", out)
	}
	return known
}

func runAgentHelp(t *testing.T) (string, error) {
	t.Helper()
	var b strings.Builder
	cmd := execCommand(t, servaltest.AgentBinary(t), "--help")
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}

// TestDocumentedFlagsExist: every flag README.md and docs/*.md give to
// serval or serval-agent (in a command line, a flags table or the README's
// list of serve flags) is one the binaries accept.
func TestDocumentedFlagsExist(t *testing.T) {
	known := knownFlags(t)
	root := llamalib.RepoRoot()
	files, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files = append(files, filepath.Join(root, "README.md"), filepath.Join(root, "clients", "neovim", "README.md"))
	checked := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, file)
		lines := strings.Split(string(data), "\n")
		inFlagList := false
		for i := 0; i < len(lines); i++ {
			line := lines[i]
			// Shell continuations belong to the command line above.
			for strings.HasSuffix(strings.TrimSpace(line), `\`) && i+1 < len(lines) {
				i++
				line += " " + lines[i]
			}
			var spans []string
			switch {
			case strings.HasPrefix(line, "Main `serve` flags:"):
				inFlagList = true
			case strings.TrimSpace(line) == "":
				inFlagList = false
			}
			if inFlagList || (flagRowRE.MatchString(line) && (strings.Contains(rel, "server.md") || strings.Contains(rel, "agent.md"))) {
				if flagRowRE.MatchString(line) {
					line = strings.SplitN(line[1:], "|", 2)[0] // the first cell
				}
				spans = append(spans, line)
			}
			for _, loc := range invocationRE.FindAllStringIndex(line, -1) {
				// The command line runs to the end of its code span, comment or sentence.
				rest := line[loc[1]:]
				if end := strings.IndexAny(rest, "`|;#)"); end >= 0 {
					rest = rest[:end]
				}
				if end := strings.Index(rest, "&&"); end >= 0 {
					rest = rest[:end]
				}
				spans = append(spans, rest)
			}
			for _, span := range spans {
				for _, f := range flagRE.FindAllString(span, -1) {
					checked++
					if !known[f] {
						t.Errorf("%s:%d names %s, which neither serval nor serval-agent accepts:\n  %s", rel, i+1, f, strings.TrimSpace(lines[i]))
					}
				}
			}
		}
	}
	if checked < 40 {
		t.Errorf("only %d flag mentions checked: the scan lost its way", checked)
	}
	t.Logf("%d flag mentions in README.md and docs/ checked against the binaries' help", checked)
}
