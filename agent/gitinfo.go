package agent

import (
	"bufio"
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// repoInfo is what the completion request needs to know about a file's repository.
type repoInfo struct {
	root      string // the directory holding .git; "" when not in a repository
	remoteURL string // origin's URL, else the first remote's
}

// repoResolver finds the git repository of files off the hot path: lookups
// read a cache, misses queue the directory for a background worker that
// reads .git/config (no subprocess, no disk I/O in the completion path).
type repoResolver struct {
	queue chan string

	mu     sync.RWMutex
	byDir  map[string]repoInfo // a file's directory -> its repository
	queued map[string]bool
}

func newRepoResolver() *repoResolver {
	return &repoResolver{queue: make(chan string, 64), byDir: make(map[string]repoInfo), queued: make(map[string]bool)}
}

// lookup returns the cached repository of the directory dir, queueing it
// for resolution on a miss.
func (r *repoResolver) lookup(dir string) (repoInfo, bool) {
	r.mu.RLock()
	info, ok := r.byDir[dir]
	queued := r.queued[dir]
	r.mu.RUnlock()
	if ok || queued || dir == "" {
		return info, ok
	}
	r.mu.Lock()
	if !r.queued[dir] {
		select {
		case r.queue <- dir:
			r.queued[dir] = true
		default: // the worker is busy; a later lookup asks again
		}
	}
	r.mu.Unlock()
	return repoInfo{}, false
}

// run resolves queued directories until ctx is done.
func (r *repoResolver) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case dir := <-r.queue:
			info := findRepo(dir)
			r.mu.Lock()
			r.byDir[dir] = info
			delete(r.queued, dir)
			r.mu.Unlock()
		}
	}
}

// findRepo walks up from dir to the first directory holding .git.
func findRepo(dir string) repoInfo {
	for d := dir; ; {
		gitPath := filepath.Join(d, ".git")
		if st, err := os.Stat(gitPath); err == nil {
			gitDir := gitPath
			if !st.IsDir() {
				gitDir = worktreeGitDir(gitPath, d)
			}
			return repoInfo{root: d, remoteURL: remoteURL(filepath.Join(gitDir, "config"))}
		}
		parent := filepath.Dir(d)
		if parent == d {
			return repoInfo{}
		}
		d = parent
	}
}

// worktreeGitDir follows a .git file ("gitdir: <path>") to the common git
// directory that holds the config.
func worktreeGitDir(gitFile, base string) string {
	data, err := os.ReadFile(gitFile)
	if err != nil {
		return ""
	}
	dir := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(data)), "gitdir:"))
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(base, dir)
	}
	if common, err := os.ReadFile(filepath.Join(dir, "commondir")); err == nil {
		c := strings.TrimSpace(string(common))
		if !filepath.IsAbs(c) {
			c = filepath.Join(dir, c)
		}
		return c
	}
	return dir
}

// remoteURL reads origin's URL (else the first remote's) from a git config
// file, without the credentials it may carry.
func remoteURL(configPath string) string {
	data, err := os.ReadFile(configPath)
	if err != nil {
		return ""
	}
	return withoutCredentials(parseRemoteURL(data))
}

// withoutCredentials strips what a remote URL must not send to the server:
// the userinfo (https://user:TOKEN@host/...), the query and the fragment
// (?private_token=...). A URL that does not parse is dropped whole. The
// scp-like form (git@host:path) keeps its user name, which is no secret,
// unless a password is written into it.
func withoutCredentials(raw string) string {
	if raw == "" {
		return ""
	}
	if !strings.Contains(raw, "://") {
		user, rest, ok := strings.Cut(raw, "@")
		if ok && strings.Contains(user, ":") {
			return rest
		}
		if q := strings.IndexAny(raw, "?#"); q >= 0 {
			raw = raw[:q]
		}
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

// parseRemoteURL extracts a remote URL from git config text.
func parseRemoteURL(data []byte) string {
	var first, origin, section string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			section = strings.TrimSpace(strings.Trim(line, "[]"))
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(key), "url") {
			continue
		}
		name, isRemote := strings.CutPrefix(section, "remote ")
		if !isRemote {
			continue
		}
		value = strings.Trim(strings.TrimSpace(value), `"`)
		if strings.Trim(strings.TrimSpace(name), `"`) == "origin" && origin == "" {
			origin = value
		}
		if first == "" {
			first = value
		}
	}
	if origin != "" {
		return origin
	}
	return first
}
