// Package buildinfo says which build of Serval a binary is. serval and
// serval-agent carry one version, stamped at link time by the Makefile
// (mk/version.mk: git describe, commit, commit date) with
//
//	-ldflags "-X github.com/servalhq/serval/buildinfo.version=... -X ...commit=... -X ...date=..."
//
// A binary built without those flags (go build, go test) falls back to what
// the Go toolchain recorded about the checkout.
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
	"time"
)

// Set at link time; empty in an unstamped build.
var (
	version string // git describe --tags --always --dirty
	commit  string // full commit hash
	date    string // RFC 3339, UTC
)

// Info identifies a build. Fields a build could not learn are empty.
type Info struct {
	Version string // e.g. v0.2.0-14-g30248e7, or "devel" in an unstamped build
	Commit  string
	Date    string // RFC 3339
}

// Read returns this binary's build: the stamped values, else the VCS
// settings go build recorded, else "devel".
func Read() Info {
	info := Info{Version: version, Commit: commit, Date: date}
	if info.Version != "" {
		return info
	}
	info.Version = "devel"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.time":
			info.Date = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(info.Commit) >= 7 {
		info.Version += "-g" + info.Commit[:7]
	}
	if dirty {
		info.Version += "-dirty"
	}
	return info
}

// Day is the date part of Date (YYYY-MM-DD), or "" when unknown.
func (i Info) Day() string {
	t, err := time.Parse(time.RFC3339, i.Date)
	if err != nil {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

// String is the one-line form `serval version` and `serval-agent --version`
// print after the program's name: "v0.2.0-14-g30248e7 (commit 30248e7f1a2b, 2026-12-03)".
func (i Info) String() string {
	var details []string
	if i.Commit != "" {
		details = append(details, "commit "+shorten(i.Commit, 12))
	}
	if d := i.Day(); d != "" {
		details = append(details, d)
	}
	if len(details) == 0 {
		return i.Version
	}
	return fmt.Sprintf("%s (%s)", i.Version, strings.Join(details, ", "))
}

func shorten(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
