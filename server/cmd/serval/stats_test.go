package main

import (
	"context"
	"strings"
	"testing"

	"github.com/servalhq/serval/server/store"
)

// A language a client sent with terminal escape sequences is printed
// escaped, never obeyed.
func TestStatsEscapesNonPrintables(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"\x1b]0;pwned\a\x1b[2J\x1b[31mgo", "rust\tfake\tcolumns", "go"} {
		if err := st.AddEvent(context.Background(), store.Event{TokenName: "t", Type: "view", CompletionID: "c", Language: lang}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	out, _, err := runCmd(t, dir, "stats")
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(out, "\x1b\a\t") {
		t.Errorf("stats printed control characters raw:\n%q", out)
	}
	for _, want := range []string{`\x1b]0;pwned\a\x1b[2J\x1b[31mgo`, `rust\tfake\tcolumns`} {
		if !strings.Contains(out, want) {
			t.Errorf("stats lacks the escaped language %s:\n%s", want, out)
		}
	}
}
