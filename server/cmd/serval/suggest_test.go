package main

import "testing"

func TestDidYouMean(t *testing.T) {
	flags := []string{"model", "mode", "port", "host", "max-tokens", "no-auth"}
	for word, want := range map[string]string{
		"modle":     " (did you mean --model?)", // neighbours swapped: one edit
		"prot":      " (did you mean --port?)",
		"hots":      " (did you mean --host?)",
		"max-token": " (did you mean --max-tokens?)",
		"noauth":    " (did you mean --no-auth?)",
		"verbose":   "",
		"x":         "", // one edit from nothing useful
	} {
		if got := didYouMean(word, flags, "--"); got != want {
			t.Errorf("didYouMean(%q) = %q, want %q", word, got, want)
		}
	}
	if d := editDistance("kitten", "sitting"); d != 3 {
		t.Errorf("editDistance(kitten, sitting) = %d", d)
	}
}
