package ignore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
)

// DefaultExcludes are the globs of files that never reach a model, whatever
// .gitignore says: environment files, private keys and keystores, the
// dotfiles of tools that store tokens, cloud and cluster credentials,
// infrastructure state and anything named like a secret. A glob without a
// slash is matched against every path segment; one with a slash against
// every run of that many consecutive segments. Users add to the list
// (gather.Config.ExtraExcludes); they do not replace it by accident.
var DefaultExcludes = []string{
	// Environment files and per-user tool credentials.
	".env*", ".npmrc", ".yarnrc.yml", ".pypirc", ".netrc", "_netrc", ".git-credentials",
	".pgpass", ".my.cnf", ".htpasswd", ".s3cfg", ".boto", ".vault-token",
	".terraformrc", "terraform.rc", ".dockercfg", ".docker/config.json",
	// Directories that only hold credentials.
	".ssh", ".gnupg", ".aws", ".azure", ".kube", ".config/gcloud", ".password-store",
	// Keys, certificates with keys, keystores.
	"*.pem", "*.key", "*.p8", "*.p12", "*.pfx", "*.jks", "*.keystore", "*.bks",
	"*.ppk", "*.gpg", "*.kdbx", "*.keytab", "*.ovpn",
	"id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", "id_xmss*", "ssh_host_*_key*",
	// Cloud, cluster and infrastructure credentials and state.
	"credentials", "*credentials*.json", "*credentials*.csv", "*service-account*.json",
	"*service_account*.json", "*serviceaccount*.json", "kubeconfig", "*.kubeconfig",
	"*.tfvars", "*.tfvars.json", "*.tfstate", "*.tfstate.*",
	// Anything named like a secret.
	"*secret*",
}

// skippedDirs are directories that never hold code worth indexing:
// version control data, dependencies and caches.
var skippedDirs = map[string]bool{
	".git": true, ".hg": true, ".svn": true, "node_modules": true, "vendor": true,
	"__pycache__": true, ".venv": true, "venv": true, ".tox": true, ".mypy_cache": true,
	".pytest_cache": true, ".next": true, ".nuxt": true, ".gradle": true, ".idea": true,
	".cache": true, "bower_components": true,
}

// Matcher answers, for paths inside one workspace root, whether .gitignore
// ignores them and whether an exclusion glob makes them off limits. It
// loads .gitignore files lazily (LoadDir) on the indexer's goroutines; the
// lookups are in-memory and safe for concurrent use.
type Matcher struct {
	root     string
	excludes []string

	mu sync.RWMutex
	// byDir maps a slash-separated directory relative to root ("" for the
	// root) to its .gitignore, or nil when it has none.
	byDir map[string]*Patterns
}

// NewMatcher returns a matcher for the workspace at root. excludes are
// globs matched against every path segment (case-insensitively); nil means
// DefaultExcludes. It reads root's .gitignore and .git/info/exclude.
func NewMatcher(root string, excludes []string) (*Matcher, error) {
	if excludes == nil {
		excludes = DefaultExcludes
	}
	if err := CheckGlobs(excludes); err != nil {
		return nil, err
	}
	m := &Matcher{root: root, excludes: excludes, byDir: make(map[string]*Patterns)}
	if err := m.LoadDir(""); err != nil {
		return nil, err
	}
	if data, err := os.ReadFile(filepath.Join(root, ".git", "info", "exclude")); err == nil {
		m.mu.Lock()
		root := m.byDir[""]
		info := ParsePatterns(data)
		merged := &Patterns{list: append(append([]pattern{}, info.list...), root.list...)}
		m.byDir[""] = merged
		m.mu.Unlock()
	}
	return m, nil
}

// Root is the workspace root the matcher was made for.
func (m *Matcher) Root() string { return m.root }

// LoadDir (re)reads the .gitignore of directory rel (slash-separated,
// relative to root). A missing file is not an error.
func (m *Matcher) LoadDir(rel string) error {
	data, err := os.ReadFile(filepath.Join(m.root, filepath.FromSlash(rel), ".gitignore"))
	var p *Patterns
	switch {
	case err == nil:
		p = ParsePatterns(data)
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		p = &Patterns{}
	default:
		return fmt.Errorf("read .gitignore in %q: %w", rel, err)
	}
	m.mu.Lock()
	m.byDir[rel] = p
	m.mu.Unlock()
	return nil
}

// LoadParents reads the .gitignore of every directory from the root down
// to rel (a directory) that has not been loaded yet, so that Ignored is
// exact for rel's files even before a walk reached them.
func (m *Matcher) LoadParents(rel string) error {
	dirs := []string{""}
	if rel != "" && rel != "." {
		parts := strings.Split(rel, "/")
		for i := range parts {
			dirs = append(dirs, strings.Join(parts[:i+1], "/"))
		}
	}
	for _, d := range dirs {
		m.mu.RLock()
		_, loaded := m.byDir[d]
		m.mu.RUnlock()
		if loaded {
			continue
		}
		if err := m.LoadDir(d); err != nil {
			return err
		}
	}
	return nil
}

// Excluded reports whether a segment of rel matches an exclusion glob.
func (m *Matcher) Excluded(rel string) bool { return MatchExcluded(m.excludes, rel) }

// CheckGlobs reports the first malformed glob, if any.
func CheckGlobs(globs []string) error {
	for _, g := range globs {
		if _, err := path.Match(strings.ToLower(g), ""); err != nil {
			return fmt.Errorf("exclusion glob %q: %w", g, err)
		}
	}
	return nil
}

// MatchExcluded reports whether the slash-separated path rel matches one of
// globs (case-insensitively): a glob without a slash matches any one
// segment, a glob with n segments any n consecutive ones. nil globs mean
// DefaultExcludes.
func MatchExcluded(globs []string, rel string) bool {
	if globs == nil {
		globs = DefaultExcludes
	}
	segs := strings.Split(strings.ToLower(rel), "/")
	for _, g := range globs {
		g = strings.ToLower(g)
		n := strings.Count(g, "/") + 1
		for i := 0; i+n <= len(segs); i++ {
			if ok, _ := path.Match(g, strings.Join(segs[i:i+n], "/")); ok {
				return true
			}
		}
	}
	return false
}

// SkippedDir reports whether a directory name is one the index never
// enters (version control, dependencies, caches).
func SkippedDir(name string) bool { return skippedDirs[name] }

// Ignored reports whether .gitignore ignores rel (slash-separated,
// relative to root) or one of its parent directories, or whether one of
// them is a directory the index never enters. Directories whose .gitignore
// has not been loaded count as having none.
func (m *Matcher) Ignored(rel string, isDir bool) bool {
	if rel == "" || rel == "." {
		return false
	}
	parts := strings.Split(rel, "/")
	m.mu.RLock()
	defer m.mu.RUnlock()
	for i := range parts {
		if i < len(parts)-1 || isDir {
			if skippedDirs[parts[i]] {
				return true
			}
		}
		if m.ignoredAt(parts, i, i < len(parts)-1 || isDir) {
			return true
		}
	}
	return false
}

// ignoredAt applies every loaded .gitignore from the root down to the
// parent of parts[i] to the path parts[:i+1]; the deepest file that has a
// matching line decides.
func (m *Matcher) ignoredAt(parts []string, i int, isDir bool) bool {
	ignored := false
	for d := 0; d <= i; d++ {
		p := m.byDir[strings.Join(parts[:d], "/")]
		if p == nil {
			continue
		}
		if ign, ok := p.Match(strings.Join(parts[d:i+1], "/"), isDir); ok {
			ignored = ign
		}
	}
	return ignored
}

// Allowed reports whether a file may feed completion context: neither
// ignored nor excluded.
func (m *Matcher) Allowed(rel string) bool {
	return !m.Excluded(rel) && !m.Ignored(rel, false)
}
