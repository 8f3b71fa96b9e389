package agent

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The git_url sent with every request never carries the credentials a
// remote URL may hold.
func TestRemoteURLWithoutCredentials(t *testing.T) {
	tests := map[string]string{
		"https://user:ghp_TOKEN123@github.com/me/repo.git":             "https://github.com/me/repo.git",
		"https://oauth2:glpat-SECRET@gitlab.example.com/g/r.git?x=1#f": "https://gitlab.example.com/g/r.git",
		"https://gitlab.example.com/g/r.git?private_token=SECRET":      "https://gitlab.example.com/g/r.git",
		"ssh://git:PASSWORD@example.com:2222/r.git":                    "ssh://example.com:2222/r.git",
		"https://TOKENONLY@github.com/me/repo":                         "https://github.com/me/repo",
		"git@example.com:me/repo.git":                                  "git@example.com:me/repo.git",
		"me:PASSWORD@example.com:me/repo.git":                          "example.com:me/repo.git",
		"/srv/git/repo.git":                                            "/srv/git/repo.git",
		"http://[::1:SECRET@bad":                                       "",
	}
	for raw, want := range tests {
		if got := withoutCredentials(raw); got != want {
			t.Errorf("withoutCredentials(%q) = %q, want %q", raw, got, want)
		}
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, ".git"), 0o755)
	os.WriteFile(filepath.Join(dir, ".git", "config"), []byte("[remote \"origin\"]\n\turl = https://me:ghp_16C7e42F292c6912E7710c838347Ae178B4a@github.com/me/repo.git\n"), 0o644)
	info := findRepo(dir)
	if strings.Contains(info.remoteURL, "ghp_") || info.remoteURL != "https://github.com/me/repo.git" {
		t.Errorf("findRepo remote URL = %q", info.remoteURL)
	}
}

func FuzzWithoutCredentials(f *testing.F) {
	f.Add("https://user:pw@host/p?q=1#f")
	f.Add("u:p@h:path")
	f.Fuzz(func(t *testing.T, raw string) {
		out := withoutCredentials(raw)
		if !strings.Contains(out, "://") {
			return
		}
		if u, err := url.Parse(out); err == nil && (u.User != nil || u.RawQuery != "") {
			t.Fatalf("%q kept userinfo or query: %q", raw, out)
		}
	})
}

// completion.exclude adds up across layers and a bad glob is refused.
func TestExcludeConfigAddsUp(t *testing.T) {
	stack := NewConfigStack(func(string) string { return "" })
	stack.Set(LayerFile, Config{Completion: CompletionConfig{Exclude: []string{"*.vault"}}})
	c := stack.Set(LayerInitOptions, Config{Completion: CompletionConfig{Exclude: []string{"prod.*"}}})
	if strings.Join(c.Completion.Exclude, ",") != "*.vault,prod.*" {
		t.Errorf("exclude = %q", c.Completion.Exclude)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	c.Completion.Exclude = append(c.Completion.Exclude, "[bad")
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "completion.exclude") {
		t.Errorf("bad glob: %v", err)
	}
}
