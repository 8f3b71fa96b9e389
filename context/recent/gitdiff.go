package recent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/sourcegraph/go-diff/diff"
)

// Hunk is the new side of one changed hunk of the working tree: the lines
// a snippet can show (context and added lines, removed lines left out).
type Hunk struct {
	Path     string // absolute
	StartRow int    // zero-based row of Text's first line in the file
	Text     string
}

// ErrNotRepository is returned by GitDiff for a folder outside any git
// repository, in one without commits, or where git is not installed;
// callers treat it as "no changes".
var ErrNotRepository = errors.New("not a git repository")

// GitDiff runs `git diff HEAD` in root and returns its output. It runs a
// process: call it in the background, never on the keystroke path.
func GitDiff(ctx context.Context, root string) ([]byte, error) {
	// Outside a work tree `git diff` falls back to comparing paths, so ask
	// first whether root is in one.
	check := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--verify", "--quiet", "HEAD")
	if err := check.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, ErrNotRepository
	}
	cmd := exec.CommandContext(ctx, "git", "-C", root, "diff", "HEAD", "--no-color", "--no-ext-diff", "--unified=3", "--relative")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("git diff in %s: %w: %s", root, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// ParseDiff reads a unified multi-file diff (paths relative to root, with
// git's a/ and b/ prefixes) into hunks of new-side text. Deleted files
// give no hunks.
func ParseDiff(root string, data []byte) ([]Hunk, error) {
	files, err := diff.ParseMultiFileDiff(data)
	if err != nil {
		return nil, fmt.Errorf("parse git diff: %w", err)
	}
	var out []Hunk
	for _, f := range files {
		name := f.NewName
		if name == "/dev/null" || name == "" {
			continue
		}
		name = strings.TrimPrefix(name, "b/")
		path := filepath.Join(root, filepath.FromSlash(name))
		if rel, err := filepath.Rel(root, path); err != nil || strings.HasPrefix(rel, "..") {
			continue // a crafted path that leaves the workspace
		}
		for _, h := range f.Hunks {
			var b strings.Builder
			for _, line := range bytes.SplitAfter(h.Body, []byte("\n")) {
				if len(line) == 0 || line[0] == '-' || line[0] == '\\' {
					continue
				}
				b.Write(line[1:])
			}
			if b.Len() == 0 {
				continue
			}
			out = append(out, Hunk{Path: path, StartRow: max(0, int(h.NewStartLine)-1), Text: b.String()})
		}
	}
	return out, nil
}
