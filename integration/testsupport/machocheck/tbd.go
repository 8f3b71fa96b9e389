package machocheck

import (
	"fmt"
	"slices"
	"strings"
)

// A Stub is what a text-based library stub (.tbd, TAPI version 4) says one
// library exports for one target, re-exported libraries' documents included:
// Zig's libSystem.N.tbd holds libSystem and each /usr/lib/system library it
// re-exports, one YAML document each.
type Stub struct {
	InstallName string          // the first document's: the path binaries load
	Symbols     map[string]bool // every exported symbol for the target, with its leading underscore
}

// ParseTBD reads the documents of a .tbd file and keeps what they export for
// target (e.g. "arm64-macos"). It reads the subset of YAML that TAPI writes:
// "key: value" lines, "- " list items, and flow lists ([ a, 'b' ]) that may
// span lines.
func ParseTBD(text, target string) (*Stub, error) {
	stub := &Stub{Symbols: map[string]bool{}}
	var (
		docs     int
		section  string   // the current top-level key: exports, reexports, undefineds, ...
		targets  []string // the current list item's targets
		pending  string   // a key whose flow list continues on the next lines
		values   []string
		lineNo   int
		inDoc    bool
		install  string
		anyMatch bool
	)
	apply := func(key string, vals []string) {
		switch {
		case key == "targets" && section == "" && inDoc:
			anyMatch = anyMatch || slices.Contains(vals, target)
		case key == "targets":
			targets = vals
		case section != "exports" && section != "reexports":
		case !slices.Contains(targets, target):
		case key == "symbols" || key == "weak-symbols" || key == "thread-local-symbols":
			for _, v := range vals {
				stub.Symbols[v] = true
			}
		case key == "objc-classes":
			for _, v := range vals {
				stub.Symbols["_OBJC_CLASS_$_"+v] = true
				stub.Symbols["_OBJC_METACLASS_$_"+v] = true
			}
		case key == "objc-eh-types":
			for _, v := range vals {
				stub.Symbols["_OBJC_EHTYPE_$_"+v] = true
			}
		case key == "objc-ivars":
			for _, v := range vals {
				stub.Symbols["_OBJC_IVAR_$_"+v] = true
			}
		}
	}
	for line := range strings.Lines(text) {
		lineNo++
		line = strings.TrimRight(line, "\r\n")
		if pending != "" {
			body, closed := strings.CutSuffix(strings.TrimSpace(line), "]")
			values = append(values, splitFlow(body)...)
			if closed {
				apply(pending, values)
				pending, values = "", nil
			}
			continue
		}
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
			continue
		case strings.HasPrefix(trimmed, "---"):
			docs++
			inDoc, section, targets = true, "", nil
			continue
		case trimmed == "...":
			inDoc = false
			continue
		}
		if !inDoc {
			return nil, fmt.Errorf("tbd line %d: %q outside a document", lineNo, line)
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		item := strings.HasPrefix(trimmed, "- ")
		if item {
			trimmed = strings.TrimSpace(trimmed[2:])
			targets = nil
		}
		key, value, ok := strings.Cut(trimmed, ":")
		if !ok {
			return nil, fmt.Errorf("tbd line %d: %q is not key: value", lineNo, line)
		}
		value = strings.TrimSpace(value)
		if indent == 0 && !item {
			section = ""
			if value == "" {
				section = key
				continue
			}
			if key == "install-name" && docs == 1 {
				install = unquote(value)
			}
		}
		if rest, isList := strings.CutPrefix(value, "["); isList {
			body, closed := strings.CutSuffix(rest, "]")
			if !closed {
				pending, values = key, splitFlow(body)
				continue
			}
			apply(key, splitFlow(body))
		}
	}
	switch {
	case pending != "":
		return nil, fmt.Errorf("tbd: the list of %s is not closed", pending)
	case docs == 0:
		return nil, fmt.Errorf("tbd: no document")
	case install == "":
		return nil, fmt.Errorf("tbd: no install-name")
	case !anyMatch:
		return nil, fmt.Errorf("tbd %s: not built for %s", install, target)
	}
	stub.InstallName = install
	return stub, nil
}

// splitFlow splits the inside of a YAML flow list.
func splitFlow(s string) []string {
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		if v = unquote(strings.TrimSpace(v)); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}
